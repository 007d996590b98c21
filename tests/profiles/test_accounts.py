"""Sign-up, password change and reset, API tokens, and CSRF on session-authenticated POSTs (T40)."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from chats.models import Chat
from profiles.models import ApiKey, ApiToken

pytestmark = pytest.mark.django_db


def test_sign_up_logs_the_new_user_in(client):
    response = client.post(reverse("signup"), {"username": "carol", "email": "carol@example.com",
                                               "password1": "a-long-pass-phrase-9", "password2": "a-long-pass-phrase-9"})
    assert response.status_code == 302
    assert client.get(reverse("chat-list")).status_code == 200
    assert get_user_model().objects.filter(username="carol").exists()


def test_the_operator_can_turn_sign_up_off(client, settings):
    settings.IMAGEGEN_SIGNUP_ENABLED = False
    assert client.get(reverse("signup")).status_code == 404
    assert client.post(reverse("signup"), {"username": "eve"}).status_code == 404
    assert "Sign up" not in client.get(reverse("login")).content.decode()


def test_password_change(alice_client, alice):
    response = alice_client.post(reverse("password_change"), {"old_password": "alice-pass-123",
                                                               "new_password1": "new-pass-phrase-77",
                                                               "new_password2": "new-pass-phrase-77"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("new-pass-phrase-77")


def test_password_reset_by_mail(client, alice):
    alice.email = "alice@example.com"
    alice.save()
    client.post(reverse("password_reset"), {"email": "alice@example.com"})
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/accounts/password/reset/\S+/)", mail.outbox[0].body).group(1)
    form_url = client.get(link).url  # Django swaps the token for a session marker
    response = client.post(form_url, {"new_password1": "reset-pass-phrase-5", "new_password2": "reset-pass-phrase-5"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("reset-pass-phrase-5")


def test_a_token_is_shown_once_stored_hashed_and_revocable(alice_client, alice):
    page = alice_client.post(reverse("settings-tokens"), {"name": "script"})
    token = re.search(r"(igt_[A-Za-z0-9_\-]+)", page.content.decode()).group(1)
    assert page["Cache-Control"] == "no-store"
    stored = ApiToken.objects.get()
    assert stored.key_hash != token and token not in str(list(ApiToken.objects.values()))
    assert token not in alice_client.get(reverse("settings-tokens")).content.decode()

    api = APIClient()
    assert api.get(reverse("api:me"), HTTP_AUTHORIZATION=f"Bearer {token}").json()["username"] == "alice"
    assert api.get(reverse("api:me"), HTTP_AUTHORIZATION=f"Bearer {token}x").status_code == 401
    alice_client.post(reverse("settings-token-revoke", args=[stored.pk]))
    assert api.get(reverse("api:me"), HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_tokens_through_the_api(alice_api):
    created = alice_api.post(reverse("api:token-list"), {"name": "ci"}, format="json")
    assert created.status_code == 201 and created.json()["token"].startswith("igt_")
    listed = alice_api.get(reverse("api:token-list")).content.decode()
    assert created.json()["token"] not in listed and "ci" in listed


@pytest.mark.parametrize("url_name, data", [
    ("settings-api-keys", {"provider": "openai", "key": "sk-csrf-test-123456"}),
    ("api:api-key-list", {"provider": "openai", "key": "sk-csrf-test-123456"}),
    ("api:image-profile-list", {"name": "x", "provider": "offline"}),
])
def test_session_posts_without_a_csrf_token_are_refused(alice, url_name, data):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(reverse(url_name), data, content_type="application/json" if "api" in url_name else None)
    assert response.status_code == 403
    assert not ApiKey.objects.exists()


def test_posting_into_a_chat_without_csrf_is_refused(alice):
    chat = Chat.objects.create(owner=alice)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(reverse("chat-message-create", args=[chat.pk]), {"content": "/image x"}).status_code == 403
    assert client.post(reverse("api:chat-messages", args=[chat.pk]), {"content": "/image x"},
                       content_type="application/json").status_code == 403
    assert not chat.messages.exists()


def test_token_clients_need_no_csrf_token(alice):
    from profiles.services import api_token_create

    _, token = api_token_create(owner=alice, name="cli")
    client = APIClient(enforce_csrf_checks=True)
    response = client.post(reverse("api:api-key-list"), {"provider": "openai", "key": "sk-token-client-123456"},
                           format="json", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 201
