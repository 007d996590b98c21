"""Live previews (seed 001 streaming): providers report percent + partial images through on_progress; the worker
stores them on the Generation (sanitised WEBP); the card, the API and the preview view show them while running."""

from __future__ import annotations

import base64
import io
import json
import threading

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image

from images.models import Generation
from images.previews import PREVIEW_PX, listener, record
from images.providers import PROVIDERS, ProviderImage, ProviderResult
from images.providers.automatic1111 import Automatic1111Provider
from images.providers.base import ImageRequest, ProviderError
from images.providers.openai import OpenAIProvider
from images.services import generation_start
from profiles.models import ImageProfile
from tests.fakes import FakeProvider, png_bytes

from .http_stubs import http  # noqa: F401  (fixture)

GENERATIONS = "https://api.openai.com/v1/images/generations"
EDITS = "https://api.openai.com/v1/images/edits"
A1111 = "http://a1111.example.com:7860"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sse(*events: dict) -> str:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)


def collector():
    calls: list[tuple[int | None, bytes | None]] = []
    return calls, lambda percent, preview: calls.append((percent, preview))


# --- OpenAI: stream + partial_images -------------------------------------------------------------------------------

def test_openai_streams_partial_images_to_the_listener_and_returns_the_final_image(http):
    partial0, partial1, final = png_bytes(colour=(10, 10, 10)), png_bytes(colour=(90, 90, 90)), png_bytes()
    http.post(GENERATIONS, content_type="text/event-stream", body=sse(
        {"type": "image_generation.partial_image", "b64_json": b64(partial0), "partial_image_index": 0},
        {"type": "image_generation.partial_image", "b64_json": b64(partial1), "partial_image_index": 1},
        {"type": "image_generation.completed", "b64_json": b64(final),
         "usage": {"total_tokens": 321, "input_tokens": 21, "output_tokens": 300}},
    ), headers={"x-request-id": "req_stream"})
    provider = OpenAIProvider(api_key="sk-test")
    calls, provider.on_progress = collector()

    result = provider.generate(ImageRequest(prompt="an otter", model="gpt-image-1"))

    sent = json.loads(http.calls[0].request.body)
    assert sent == {"model": "gpt-image-1", "prompt": "an otter", "n": 1, "stream": True, "partial_images": 2}
    assert calls == [(0, None), (33, partial0), (66, partial1), (100, None)]
    assert result.images[0].data == final and result.usage["total_tokens"] == 321
    assert result.request_id == "req_stream"


def test_openai_edits_stream_partial_images_too(http):
    """/v1/images/edits takes stream + partial_images as multipart fields and answers image_edit.* events."""
    partial, final = png_bytes(colour=(20, 20, 20)), png_bytes(colour=(200, 10, 10))
    http.post(EDITS, content_type="text/event-stream", body=sse(
        {"type": "image_edit.partial_image", "b64_json": b64(partial), "partial_image_index": 0},
        {"type": "image_edit.completed", "b64_json": b64(final), "usage": {"total_tokens": 99}},
    ))
    provider = OpenAIProvider(api_key="sk-test")
    calls, provider.on_progress = collector()

    result = provider.edit(ImageRequest(prompt="make it red", model="gpt-image-1",
                                        input_images=((png_bytes(), "image/png"),)))

    body = http.calls[0].request.body
    body = body.decode("latin-1") if isinstance(body, bytes) else body
    for name, value in (("stream", "true"), ("partial_images", "2"), ("prompt", "make it red")):
        assert f'name="{name}"\r\n\r\n{value}\r\n' in body
    assert 'name="image[]"; filename="image0.png"' in body
    assert calls == [(0, None), (33, partial), (100, None)]
    assert result.images[0].data == final and result.usage["total_tokens"] == 99


def test_openai_edits_without_a_listener_are_one_plain_multipart_call(http):
    http.post(EDITS, json={"created": 1, "data": [{"b64_json": b64(png_bytes())}]})
    OpenAIProvider(api_key="k").edit(ImageRequest(prompt="x", model="gpt-image-1",
                                                  input_images=((png_bytes(), "image/png"),)))
    body = http.calls[0].request.body
    assert b'name="stream"' not in (body if isinstance(body, bytes) else body.encode())


def test_openai_does_not_stream_without_a_listener_nor_for_dalle_nor_for_several_images(http):
    http.post(GENERATIONS, json={"created": 1, "data": [{"b64_json": b64(png_bytes())}]})
    http.post(GENERATIONS, json={"created": 1, "data": [{"b64_json": b64(png_bytes())}]})
    http.post(GENERATIONS, json={"created": 1, "data": [{"b64_json": b64(png_bytes())}] * 2})
    OpenAIProvider(api_key="k").generate(ImageRequest(prompt="a", model="gpt-image-1"))
    listening = OpenAIProvider(api_key="k")
    calls, listening.on_progress = collector()
    listening.generate(ImageRequest(prompt="b", model="dall-e-3"))
    listening.generate(ImageRequest(prompt="c", model="gpt-image-1", n=2))
    assert len(http.calls) == 3
    assert all("stream" not in json.loads(c.request.body) for c in http.calls)
    assert calls == []


def test_openai_stream_error_event_is_a_content_policy_refusal(http):
    http.post(GENERATIONS, content_type="text/event-stream", body=sse(
        {"type": "error", "error": {"code": "moderation_blocked", "message": "Your request was rejected."}},
    ))
    provider = OpenAIProvider(api_key="sk-secret-key-123")
    _, provider.on_progress = collector()
    with pytest.raises(ProviderError) as caught:
        provider.generate(ImageRequest(prompt="x", model="gpt-image-1"))
    assert caught.value.code == "content_policy" and "rejected" in caught.value.message


def test_openai_stream_http_error_maps_to_the_taxonomy_and_a_cut_stream_is_retryable(http):
    http.post(GENERATIONS, status=401, json={"error": {"code": "invalid_api_key", "message": "bad key sk-abc"}})
    http.post(GENERATIONS, content_type="text/event-stream", body=sse(
        {"type": "image_generation.partial_image", "b64_json": b64(png_bytes()), "partial_image_index": 0}))
    provider = OpenAIProvider(api_key="sk-abc")
    _, provider.on_progress = collector()
    with pytest.raises(ProviderError) as auth:
        provider.generate(ImageRequest(prompt="x", model="gpt-image-1"))
    assert auth.value.code == "provider_auth_failed" and "sk-abc" not in auth.value.message
    with pytest.raises(ProviderError) as cut:
        provider.generate(ImageRequest(prompt="x", model="gpt-image-1"))
    assert cut.value.code == "empty_response" and cut.value.retryable


# --- AUTOMATIC1111: /sdapi/v1/progress polled while txt2img runs ----------------------------------------------------

def test_a1111_polls_progress_while_txt2img_runs_and_reports_on_the_callers_thread(http, monkeypatch, settings):
    settings.IMAGEGEN_PRIVATE_ALLOWLIST = []
    monkeypatch.setattr(Automatic1111Provider, "progress_interval", 0.02)
    release = threading.Event()
    live = png_bytes(colour=(1, 2, 3))

    def txt2img(request):
        release.wait(5)  # the image is "being made" until progress was seen
        return 200, {}, json.dumps({"images": [b64(png_bytes())], "info": json.dumps({"all_seeds": [5]})})

    def progress(request):
        release.set()
        return 200, {}, json.dumps({"progress": 0.45, "eta_relative": 3.0, "current_image": b64(live),
                                    "state": {"sampling_step": 9, "sampling_steps": 20}})

    http.add_callback("POST", f"{A1111}/sdapi/v1/txt2img", callback=txt2img)
    http.add_callback("GET", f"{A1111}/sdapi/v1/progress", callback=progress)
    provider = Automatic1111Provider(base_url=A1111)
    threads: set[int] = set()
    calls: list = []

    def on_progress(percent, preview):
        threads.add(threading.get_ident())
        calls.append((percent, preview))

    provider.on_progress = on_progress
    result = provider.generate(ImageRequest(prompt="a castle"))
    assert result.images[0].seed == 5
    assert calls and calls[0] == (45, live)
    assert threads == {threading.get_ident()}  # the listener (which writes the database) never runs elsewhere
    assert "skip_current_image=false" in [c.request.url for c in http.calls if "progress" in c.request.url][0]


def test_a1111_without_a_listener_makes_no_progress_calls(http):
    http.post(f"{A1111}/sdapi/v1/txt2img", json={"images": [b64(png_bytes())], "info": "{}"})
    Automatic1111Provider(base_url=A1111).generate(ImageRequest(prompt="a castle"))
    assert [c.request.url for c in http.calls] == [f"{A1111}/sdapi/v1/txt2img"]


# --- the worker: stored on the row, shown on the card, discarded at the end -------------------------------------

class ProgressFakeProvider(FakeProvider):
    """tests.fakes.FakeProvider that exposes the running instance, so a scripted answer can report progress."""

    current: "ProgressFakeProvider | None" = None

    def generate(self, request):
        type(self).current = self
        return super().generate(request)


@pytest.fixture
def progress_provider(monkeypatch, fake_provider):
    monkeypatch.setitem(PROVIDERS, "fake", ("Fake", f"{__name__}.ProgressFakeProvider"))
    return ProgressFakeProvider


@pytest.fixture
def fake_profile(alice, progress_provider):
    return ImageProfile.objects.create(owner=alice, name="Fake", provider="fake", is_default=True)


@pytest.mark.django_db
def test_the_card_and_api_show_percent_and_preview_while_running_and_nothing_after(
        fake_profile, progress_provider, alice, alice_client, alice_api, bob_client,
        django_capture_on_commit_callbacks):
    seen = {}
    partial = png_bytes(1024, 768, (0, 120, 200))

    def mid_run():
        progress_provider.current.progress(40, partial)
        generation = Generation.objects.get()
        seen["row"] = (generation.status, generation.progress, generation.preview)
        seen["file"] = default_storage.open(generation.preview, "rb").read()
        seen["card"] = alice_client.get(reverse("generation-card", args=[generation.pk])).content.decode()
        seen["api"] = alice_api.get(reverse("api:generation-detail", args=[generation.pk])).json()
        seen["view"] = alice_client.get(reverse("generation-preview", args=[generation.pk]))
        seen["bob"] = bob_client.get(reverse("generation-preview", args=[generation.pk])).status_code
        return png_bytes()

    progress_provider.script = [mid_run]
    with django_capture_on_commit_callbacks(execute=True):  # ImmediateBackend: the job runs on commit
        generation = generation_start(owner=alice, prompt="a harbour at night")

    status, progress, preview = seen["row"]
    assert (status, progress) == ("running", 40) and preview.startswith(f"previews/{alice.pk}/gen_")
    img = Image.open(io.BytesIO(seen["file"]))
    assert img.format == "WEBP" and max(img.size) == PREVIEW_PX  # sanitised and made small
    assert 'value="40"' in seen["card"] and "40%" in seen["card"] and "gen-preview" in seen["card"]
    assert seen["api"]["progress"] == 40 and seen["api"]["preview_url"].startswith(
        reverse("generation-preview", args=[generation.pk]))
    view = seen["view"]
    assert view.status_code == 200 and view["Content-Type"] == "image/webp"
    assert view["X-Content-Type-Options"] == "nosniff" and "sandbox" in view["Content-Security-Policy"]
    assert view["Cache-Control"] == "private, no-store"
    assert seen["bob"] == 404

    generation.refresh_from_db()
    assert generation.status == "succeeded" and generation.progress is None and generation.preview == ""
    assert not default_storage.exists(preview)  # the frame is gone once the real image is stored
    card = alice_client.get(reverse("generation-card", args=[generation.pk])).content.decode()
    assert "gen-preview" not in card and "<progress" not in card
    assert alice_client.get(reverse("generation-preview", args=[generation.pk])).status_code == 404


@pytest.mark.django_db
def test_a_provider_without_progress_shows_elapsed_time_only(alice, alice_client):
    generation = Generation.objects.create(owner=alice, provider="offline", prompt="x", status="running", attempts=1)
    generation.started_at = generation.queued_at
    generation.save()
    card = alice_client.get(reverse("generation-card", args=[generation.pk])).content.decode()
    assert "Generating…" in card and "<progress" not in card and "gen-percent" not in card


@pytest.mark.django_db
def test_an_unsafe_partial_image_is_ignored_but_the_percent_kept(alice):
    generation = Generation.objects.create(owner=alice, provider="fake", prompt="x", status="running", attempts=1)
    assert record(generation, 20, b"<svg onload=alert(1)>") is True
    generation.refresh_from_db()
    assert (generation.progress, generation.preview) == (20, "")


@pytest.mark.django_db
def test_a_new_frame_replaces_the_old_file_and_a_canceled_run_keeps_nothing(alice):
    generation = Generation.objects.create(owner=alice, provider="fake", prompt="x", status="running", attempts=1)
    record(generation, 10, png_bytes(colour=(1, 1, 1)))
    first = Generation.objects.get().preview
    record(generation, 60, png_bytes(colour=(2, 2, 2)))
    second = Generation.objects.get().preview
    assert first != second and not default_storage.exists(first) and default_storage.exists(second)

    Generation.objects.filter(pk=generation.pk).update(status="canceled")
    assert record(generation, 90, png_bytes(colour=(3, 3, 3))) is False
    assert Generation.objects.get().progress == 60  # nothing written after the cancel
    assert sorted(default_storage.listdir(f"previews/{alice.pk}")[1]) == [second.rsplit("/", 1)[1]]


@pytest.mark.django_db
def test_the_listener_throttles_percent_only_updates_but_never_drops_a_picture(alice, monkeypatch):
    generation = Generation.objects.create(owner=alice, provider="fake", prompt="x", status="running", attempts=1)
    writes = []
    monkeypatch.setattr("images.previews.record", lambda g, p, img: writes.append((p, img is not None)))
    on_progress = listener(generation)
    for percent in (1, 2, 3, 4):
        on_progress(percent, None)
    on_progress(5, png_bytes())
    assert writes == [(1, False), (5, True)]


@pytest.mark.django_db
def test_a_failing_listener_never_fails_the_image(fake_profile, progress_provider, alice, monkeypatch,
                                                  django_capture_on_commit_callbacks):
    def boom(*args):
        raise RuntimeError("database went away")

    monkeypatch.setattr("images.previews.record", boom)

    def with_progress():
        progress_provider.current.progress(50, png_bytes())
        return png_bytes()

    progress_provider.script = [with_progress]
    with django_capture_on_commit_callbacks(execute=True):
        generation = generation_start(owner=alice, prompt="a lighthouse")
    generation.refresh_from_db()
    assert generation.status == "succeeded" and len(progress_provider.calls) == 1


def test_providers_without_streaming_keep_the_default_contract():
    result = ProviderResult(images=[ProviderImage(data=b"x", mime_type="image/png")])
    provider = OpenAIProvider(api_key="k")
    assert provider.on_progress is None
    provider.progress(50, b"ignored")  # no listener: nothing happens, nothing raises
    assert result.images
