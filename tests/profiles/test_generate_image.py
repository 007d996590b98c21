"""Seed 000's `POST /api/generate-image`: synchronous, data URIs, the seed's error codes."""

import base64

import pytest
from django.urls import reverse

from chats.models import Chat
from images.models import Generation
from images.providers import ProviderError
from profiles.models import ImageProfile

pytestmark = pytest.mark.django_db
URL = "api:generate-image"


def test_it_answers_with_the_image_as_a_data_uri(alice_api):
    response = alice_api.post(reverse(URL), {"prompt": "a watercolour fox"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "success" and body["model"] and len(body["images"]) == 1
    header, data = body["images"][0].split(",", 1)
    assert header == "data:image/png;base64" and base64.b64decode(data).startswith(b"\x89PNG")
    assert body["refined_prompt"] is None and "warning" not in body
    # A normal generation (usage, cost), but its image waits outside the gallery until "Save to gallery" (issue 5).
    generation = Generation.objects.get()
    assert generation.status == "succeeded" and generation.modal
    assert body["saved"] is False and body["save_url"] == f"/api/generations/{generation.pk}/save/"
    assert not generation.images.get().in_gallery


def test_an_empty_prompt_is_missing_prompt(alice_api):
    response = alice_api.post(reverse(URL), {"prompt": "  "}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "missing_prompt"
    assert not Generation.objects.exists()


def test_another_users_profile_or_chat_is_not_found(alice, bob_api, fake_provider):
    profile = ImageProfile.objects.create(owner=alice, name="alice's", provider="fake")
    chat = Chat.objects.create(owner=alice)
    assert bob_api.post(reverse(URL), {"prompt": "x", "profile": profile.pk}, format="json").status_code == 404
    assert bob_api.post(reverse(URL), {"prompt": "x", "conversation_id": chat.pk}, format="json").status_code == 404
    assert not Generation.objects.exists() and fake_provider.calls == []


def test_a_missing_key_is_the_seeds_500(alice, alice_api):
    profile = ImageProfile.objects.create(owner=alice, name="no key", provider="openai", model="gpt-image-1")
    response = alice_api.post(reverse(URL), {"prompt": "x", "profile": profile.pk}, format="json")
    assert response.status_code == 500 and response.json()["code"] == "missing_api_key"


def test_a_provider_failure_keeps_the_seeds_code(alice, alice_api, fake_provider, monkeypatch):
    profile = ImageProfile.objects.create(owner=alice, name="fake", provider="fake")
    fake_provider.script = [ProviderError("upstream said no", code="provider_error", status=400)]
    response = alice_api.post(reverse(URL), {"prompt": "x", "profile": profile.pk}, format="json")
    assert response.status_code == 502 and response.json()["code"] == "provider_error"
    # From OpenRouter, the same failure has the seed's name.
    from images.generate_api import seed_error

    assert seed_error(Generation(provider="openrouter", error_code="provider_error")).error_code == "openrouter_error"


def test_no_image_is_a_success_with_a_warning(alice, alice_api, fake_provider):
    profile = ImageProfile.objects.create(owner=alice, name="fake", provider="fake")
    fake_provider.script = [ProviderError("no image", code="empty_response")]
    body = alice_api.post(reverse(URL), {"prompt": "x", "profile": profile.pk}, format="json").json()
    assert body["status"] == "success" and body["images"] == [] and body["warning"].startswith("Model did not")


def test_an_unknown_model_is_refused_before_anything_runs(alice_api):
    response = alice_api.post(reverse(URL), {"prompt": "x", "model": "made-up-model"}, format="json")
    assert response.status_code == 400 and "model" in response.json()["fields"]
    assert not Generation.objects.exists()


def test_the_schema_covers_the_new_routes(alice_client):
    schema = alice_client.get(reverse("api-schema"), {"format": "json"}).json()
    for path in ("/api/api-keys/", "/api/api-keys/{id}/validate/", "/api/image-profiles/",
                 "/api/image-profiles/models/", "/api/image-profiles/validate-key/",
                 "/api/image-profiles/{id}/set-default/", "/api/tokens/", "/api/providers/", "/api/me/",
                 "/api/generate-image"):
        assert path in schema["paths"], path
    key_schema = schema["components"]["schemas"]["ApiKey"]
    assert key_schema["properties"]["key"]["writeOnly"] is True
