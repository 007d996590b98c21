"""SECURITY.md T49: a provider that answers with a URL (dall-e-3: valid 60 minutes; OpenRouter: up to 24 h) has it
downloaded in the same attempt. Nothing stores the URL, so a job resumed after the URL expired can never fetch it:
the new attempt asks the provider again (regenerates).

Through the real OpenAI provider and imagegen_site/http.py, with the provider's HTTP stubbed by `responses`.
"""

import json
import re
import threading
from datetime import timedelta

import pytest
import requests
import responses
import time_machine
from django.utils import timezone

from imagegen_site import http
from images.models import GeneratedImage, Generation
from images.services import generation_run, generation_start
from profiles.models import ApiKey, ImageProfile
from tests.fakes import png_bytes

GENERATIONS = "https://api.openai.com/v1/images/generations"
BLOB = "https://oaidalleapiprodscus.blob.core.windows.net/private/org-x/img-{n}.png?se=2026-01-01T02%3A00%3A00Z&sig=s{n}"


@pytest.fixture
def dalle3(alice, settings, monkeypatch):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": ["default"]}}
    settings.IMAGEGEN_MODERATION_API = False
    monkeypatch.setattr(http, "resolve_host", lambda host, port: ["93.184.215.14"])  # no DNS in tests
    key = ApiKey(owner=alice, provider="openai", label="work")
    key.set_secret("sk-test-1234567890abcdef")
    key.save()
    return ImageProfile.objects.create(owner=alice, name="DALL-E 3", provider="openai", model="dall-e-3", api_key=key)


class Blobs:
    """The provider: each POST answers a new URL; each URL serves its own PNG (or what the test says)."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.issued: list[str] = []
        self.lock = threading.Lock()
        self.fail: dict[str, Exception] = {}
        rsps.add_callback(responses.POST, GENERATIONS, callback=self.generate)
        rsps.add_callback(responses.GET, re.compile(r"https://oaidalleapiprodscus\.blob\.core\.windows\.net/private/.*"),
                          callback=self.blob)

    def generate(self, request):
        with self.lock:
            url = BLOB.format(n=len(self.issued) + 1)
            self.issued.append(url)
        return 200, {"Content-Type": "application/json"}, json.dumps({"created": 1, "data": [{"url": url}]})

    def blob(self, request):
        if request.url in self.fail:
            raise self.fail[request.url]
        n = int(request.url.split("img-")[1].split(".")[0])
        return 200, {"Content-Type": "image/png"}, png_bytes(colour=(n * 50 % 256, 10, 10))


def calls(rsps) -> list[tuple[str, str]]:
    return [(c.request.method, c.request.url) for c in rsps.calls]


@pytest.mark.django_db
def test_t49_the_url_is_downloaded_in_the_same_attempt_and_never_stored(alice, dalle3):
    with responses.RequestsMock() as rsps:
        blobs = Blobs(rsps)
        generation = generation_start(owner=alice, prompt="an otter", profile=dalle3)
        generation_run(generation_id=generation.pk)
        assert calls(rsps) == [("POST", GENERATIONS), ("GET", blobs.issued[0])]
    generation.refresh_from_db()
    assert (generation.status, generation.attempts) == ("succeeded", 1)
    image = GeneratedImage.objects.get(generation=generation)
    assert (image.width, image.height) == (64, 48)
    # Nothing to resume from: the URL is in no column of the generation or its image.
    row = json.dumps(list(Generation.objects.filter(pk=generation.pk).values()), default=str)
    row += json.dumps(list(GeneratedImage.objects.filter(generation=generation).values()), default=str)
    assert "blob.core.windows.net" not in row


@pytest.mark.django_db
def test_t49_a_job_resumed_after_the_url_expired_regenerates_and_never_fetches_the_old_url(alice, dalle3):
    with responses.RequestsMock() as rsps:
        blobs = Blobs(rsps)
        blobs.fail[BLOB.format(n=1)] = requests.exceptions.ReadTimeout("blob storage stalled")
        generation = generation_start(owner=alice, prompt="an otter", profile=dalle3)
        generation_run(generation_id=generation.pk)  # the download times out: the attempt ends, the job waits
        generation.refresh_from_db()
        assert (generation.status, generation.error_code, generation.attempts) == ("queued", "timeout", 1)

        with time_machine.travel(timezone.now() + timedelta(minutes=61), tick=True):  # the first URL has expired
            generation_run(generation_id=generation.pk)
        expired, fresh = blobs.issued
        assert calls(rsps) == [("POST", GENERATIONS), ("GET", expired), ("POST", GENERATIONS), ("GET", fresh)]
    generation.refresh_from_db()
    assert (generation.status, generation.attempts) == ("succeeded", 2)
    assert GeneratedImage.objects.filter(generation=generation).count() == 1


@pytest.mark.django_db
def test_t49_fanned_out_url_results_are_each_downloaded_by_their_own_call(alice, dalle3):
    """dall-e-3 makes one image per call: --n 3 is three calls at once, each downloading its own URL."""
    with responses.RequestsMock() as rsps:
        blobs = Blobs(rsps)
        generation = generation_start(owner=alice, prompt="three otters", options={"n": 3}, profile=dalle3)
        generation_run(generation_id=generation.pk)
        made = calls(rsps)
        sizes = [json.loads(c.request.body)["n"] for c in rsps.calls if c.request.method == "POST"]
    generation.refresh_from_db()
    assert generation.status == "succeeded" and generation.images.count() == 3
    assert sorted(made) == sorted([("POST", GENERATIONS)] * 3 + [("GET", url) for url in blobs.issued])
    assert sizes == [1, 1, 1]
