"""API keys: write-only, encrypted, owner-bound, validated by the provider (SECURITY.md T9–T11)."""

import pytest
import responses
from django.db import connection
from django.urls import reverse

from images.models import Generation
from images.services import generation_start
from profiles.models import ApiKey, ImageProfile

from .conftest import OPENAI_SECRET

pytestmark = pytest.mark.django_db


def test_a_key_is_saved_encrypted_and_only_its_hint_comes_back(alice_api):
    response = alice_api.post(reverse("api:api-key-list"), {"provider": "openai", "label": "mine", "key": OPENAI_SECRET},
                              format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["key_hint"] == "…xyz9" and "key" not in body
    assert OPENAI_SECRET not in response.content.decode()
    key = ApiKey.objects.get()
    assert key.get_secret() == OPENAI_SECRET


def test_the_column_holds_a_fresh_fernet_token_each_time(alice):
    first, second = ApiKey(owner=alice, provider="openai"), ApiKey(owner=alice, provider="openai")
    for key in (first, second):
        key.set_secret(OPENAI_SECRET)
        key.save()
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_encrypted FROM profiles_apikey ORDER BY id")
        stored = [row[0] for row in cursor.fetchall()]
    assert all(value.startswith("gAAAAA") and OPENAI_SECRET not in value for value in stored)
    assert stored[0] != stored[1]  # a random IV per value (T10)


def test_no_page_or_response_shows_the_secret(alice, alice_key, admin_client):
    """T9: detail, list, /me, the browsable API, Settings and the admin change page show …xyz9 at most."""
    from django.test import Client

    client = Client()
    client.force_login(alice)
    urls = [
        reverse("api:api-key-list"), reverse("api:api-key-detail", args=[alice_key.pk]), reverse("api:me"),
        reverse("settings-api-keys"),
    ]
    bodies = [client.get(url).content.decode() for url in urls]
    bodies += [client.get(url, HTTP_ACCEPT="text/html").content.decode() for url in urls[:2]]  # browsable API
    bodies.append(admin_client.get(reverse("admin:profiles_apikey_change", args=[alice_key.pk])).content.decode())
    bodies.append(admin_client.get(reverse("admin:profiles_apikey_changelist")).content.decode())
    for body in bodies:
        assert OPENAI_SECRET not in body
        assert OPENAI_SECRET[:8] not in body
        assert alice_key.secret_encrypted not in body
    assert "…xyz9" in bodies[0]


def test_a_ciphertext_copied_into_another_users_row_is_useless(alice_key, bob, fake_provider,
                                                                django_capture_on_commit_callbacks):
    """T11: the payload binds the owner; the job fails with key_invalid and the provider is never called."""
    stolen = ApiKey(owner=bob, provider="fake", secret_encrypted=alice_key.secret_encrypted, last_four="xyz9")
    stolen.save()
    profile = ImageProfile.objects.create(owner=bob, name="thief", provider="fake", api_key=stolen)
    with django_capture_on_commit_callbacks(execute=True):
        generation = generation_start(owner=bob, prompt="a fox", profile=profile)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED and generation.error_code == "key_invalid"
    assert fake_provider.calls == []


@responses.activate
def test_validate_asks_the_provider_and_records_the_answer(alice_api, alice_key):
    responses.get("https://api.openai.com/v1/models", json={"data": [{"id": "gpt-image-1"}, {"id": "dall-e-3"}]})
    response = alice_api.post(reverse("api:api-key-validate", args=[alice_key.pk]))
    assert response.status_code == 200
    assert response.json()["valid"] is True and "gpt-image-1" in response.json()["models"]
    alice_key.refresh_from_db()
    assert alice_key.validation_status == "valid" and alice_key.last_validated is not None
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {OPENAI_SECRET}"


@responses.activate
def test_a_rejected_key_is_marked_invalid(alice_api, alice_key):
    responses.get("https://api.openai.com/v1/models", status=401,
                  json={"error": {"message": "Incorrect API key provided: sk-pr***xyz9", "code": "invalid_api_key"}})
    body = alice_api.post(reverse("api:api-key-validate", args=[alice_key.pk])).json()
    assert body["valid"] is False and body["code"] == "provider_auth_failed"
    alice_key.refresh_from_db()
    assert alice_key.validation_status == "invalid"


def test_a_provider_without_a_check_says_so_instead_of_pretending(alice, alice_api, fake_provider):
    key = ApiKey(owner=alice, provider="fake")
    key.set_secret("fake-secret-123456")
    key.save()
    body = alice_api.post(reverse("api:api-key-validate", args=[key.pk])).json()
    assert body["valid"] is None and body["message"] == "Validation is not available for this provider."
    key.refresh_from_db()
    assert key.validation_status == "unchecked" and key.last_validated is None


@pytest.mark.parametrize("payload, field", [
    ({"provider": "openai", "key": ""}, "key"),
    ({"provider": "openai", "key": "has spaces in it"}, "key"),
    ({"provider": "offline", "key": "abcdefgh"}, "provider"),
    ({"provider": "nope", "key": "abcdefgh"}, "provider"),
])
def test_bad_keys_are_refused_with_the_field_named(alice_api, payload, field):
    response = alice_api.post(reverse("api:api-key-list"), payload, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error" and field in response.json()["fields"]
    assert ApiKey.objects.count() == 0


def test_only_the_label_can_be_changed(alice_api, alice_key):
    response = alice_api.patch(reverse("api:api-key-detail", args=[alice_key.pk]),
                               {"label": "renamed", "provider": "xai", "owner": 99}, format="json")
    assert response.status_code == 200 and response.json()["label"] == "renamed"
    alice_key.refresh_from_db()
    assert alice_key.provider == "openai" and alice_key.get_secret() == OPENAI_SECRET


def test_the_settings_page_adds_validates_and_deletes(alice_client, monkeypatch):
    response = alice_client.post(reverse("settings-api-keys"),
                                 {"provider": "openai", "label": "page", "key": OPENAI_SECRET}, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "…xyz9" in html and OPENAI_SECRET not in html
    key = ApiKey.objects.get()
    # The form never echoes a secret back, even when re-shown with an error.
    again = alice_client.post(reverse("settings-api-keys"), {"provider": "openai", "key": "bad key here"})
    assert again.status_code == 400 and "bad key here" not in again.content.decode()
    alice_client.post(reverse("settings-api-key-delete", args=[key.pk]))
    assert not ApiKey.objects.exists()


def test_the_add_key_view_hides_the_secret_from_error_reports(alice_client, monkeypatch):
    seen = {}
    from profiles import views

    real = views.services.api_key_create

    def spy(**kwargs):
        seen["request"] = kwargs
        return real(**kwargs)

    monkeypatch.setattr(views.services, "api_key_create", spy)
    from django.test import RequestFactory
    from django.views.debug import SafeExceptionReporterFilter

    request = RequestFactory().post("/settings/api-keys/", {"provider": "openai", "key": OPENAI_SECRET})
    request.user = __import__("django.contrib.auth", fromlist=["get_user_model"]).get_user_model().objects.get(username="alice")
    request._dont_enforce_csrf_checks = True
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.db import SessionStore

    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    views.api_keys(request)
    cleaned = SafeExceptionReporterFilter().get_post_parameters(request)
    assert cleaned["key"] != OPENAI_SECRET and "*" in cleaned["key"]
