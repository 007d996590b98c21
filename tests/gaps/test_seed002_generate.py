"""Issue 4: seed 002's `POST /api/images/generate` — the seed's field names and response shape over the one
generation service (images/seed_generate_api.py)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from images.models import GeneratedImage, Generation
from images.providers import ProviderError, ProviderImage, ProviderResult
from tests.fakes import png_bytes
from profiles.models import ImageProfile

pytestmark = pytest.mark.django_db
URL = "/api/images/generate"


@pytest.fixture
def fake_profile(alice, fake_provider):
    return ImageProfile.objects.create(owner=alice, name="Fake", provider="fake", parameters={"quality": "low"})


def test_the_path_is_the_seeds(alice_api):
    assert reverse("api:images-generate") == URL


def test_it_makes_images_into_the_gallery_and_answers_the_seeds_shape(alice, alice_api, fake_profile, fake_provider):
    fake_provider.script = [ProviderResult(model="fake-1", images=[
        ProviderImage(data=png_bytes(), mime_type="image/png", revised_prompt="a kite, revised"),
        ProviderImage(data=png_bytes(colour=(0, 90, 200)), mime_type="image/png")])]
    response = alice_api.post(URL, {
        "prompt": "a red kite over the dunes", "profileId": str(fake_profile.pk),
        "tags": [{"tagType": "CHARACTER", "tagId": "kite-7"}, "dunes"],
        "options": {"n": 2, "size": "1792x1024", "quality": "hd", "style": "natural"},
    }, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["metadata"] == {"prompt": "a red kite over the dunes", "provider": "fake", "model": "fake-1",
                                "count": 2}
    first = body["data"][0]
    assert set(first) >= {"id", "filename", "filepath", "url", "mimeType", "size", "tags"}
    image = GeneratedImage.objects.get(pk=int(first["id"]))
    assert image.in_gallery and image.source == "generated"  # straight into the gallery, unlike the modal
    assert (first["mimeType"], first["size"], first["filepath"]) == ("image/png", image.bytes, image.file)
    assert {(t["tagType"], t["tagId"]) for t in first["tags"]} == {("CHARACTER", "kite-7"), (None, "dunes")}
    assert all(t["imageId"] == first["id"] for t in first["tags"])
    assert first["revisedPrompt"] == "a kite, revised" and "revisedPrompt" not in body["data"][1]
    assert sorted(image.tags.values_list("name", flat=True)) == ["character:kite-7", "dunes"]
    # The options reached the provider: n, the size as a ratio, quality and the provider's own style.
    sent = fake_provider.calls[0]
    assert (sent.n, sent.aspect_ratio, sent.quality, sent.style) == (2, "16:9", "hd", "natural")
    assert alice_api.get(first["url"]).status_code == 200  # the signed link works
    listed = alice_api.get(reverse("api:image-list")).json()
    assert len(listed["results"] if isinstance(listed, dict) else listed) == 2


def test_without_a_profile_the_default_applies(alice_api):
    response = alice_api.post(URL, {"prompt": "a heron", "options": {"aspectRatio": "16:9"}}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["metadata"]["provider"] == Generation.objects.get().provider == "offline"
    assert Generation.objects.get().parameters["aspect_ratio"] == "16:9"


@pytest.mark.parametrize("body, field", [
    ({"prompt": ""}, "prompt"),
    ({"prompt": "x" * 4001}, "prompt"),
    ({"prompt": "x", "options": {"n": 11}}, "options"),
    ({"prompt": "x", "options": {"quality": "ultra"}}, "options"),
    ({"prompt": "x", "tags": [{"tagType": "PLANET", "tagId": "x"}]}, "tags"),
])
def test_invalid_bodies_are_400_naming_the_field(alice_api, body, field):
    response = alice_api.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error" and field in response.json()["fields"]
    assert not Generation.objects.exists()


def test_more_images_than_the_provider_makes_is_refused_before_anything_runs(alice_api, fake_profile, fake_provider):
    response = alice_api.post(URL, {"prompt": "x", "profileId": fake_profile.pk, "options": {"n": 9}}, format="json")
    assert response.status_code == 400 and "n" in response.json()["fields"]
    assert not Generation.objects.exists() and fake_provider.calls == []


def test_another_users_profile_is_not_found(alice, bob, fake_provider):
    from rest_framework.test import APIClient

    profile = ImageProfile.objects.create(owner=alice, name="alice's", provider="fake")
    bob_api = APIClient()
    bob_api.force_authenticate(bob)
    for profile_id in (str(profile.pk), "not-a-number"):
        response = bob_api.post(URL, {"prompt": "x", "profileId": profile_id}, format="json")
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert not Generation.objects.exists() and fake_provider.calls == []


def test_a_provider_that_cannot_make_images_is_unsupported_provider(alice, alice_api):
    profile = ImageProfile.objects.create(owner=alice, name="claude", provider="anthropic")
    response = alice_api.post(URL, {"prompt": "x", "profileId": profile.pk}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "unsupported_provider"


def test_a_provider_failure_is_the_taxonomys_code(alice_api, fake_profile, fake_provider):
    fake_provider.script = [ProviderError("upstream said no", code="provider_error", status=400)]
    response = alice_api.post(URL, {"prompt": "x", "profileId": fake_profile.pk}, format="json")
    assert response.status_code == 502 and response.json() == {"code": "provider_error",
                                                                "detail": "upstream said no"}


def test_anonymous_is_401_and_the_rate_limit_applies(client, alice_api, settings):
    assert client.post(URL, {"prompt": "x"}, content_type="application/json").status_code in (401, 403)
    settings.IMAGEGEN_GENERATE_RATE = "1/m"
    from django.core.cache import caches

    caches["ratelimit"].clear()
    assert alice_api.post(URL, {"prompt": "a"}, format="json").status_code == 200
    limited = alice_api.post(URL, {"prompt": "b"}, format="json")
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited" and limited["Retry-After"]


def test_the_schema_has_it(alice_client):
    schema = alice_client.get(reverse("api-schema"), {"format": "json"}).json()
    assert "post" in schema["paths"][URL]
