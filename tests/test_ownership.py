"""Another user's object is a 404 everywhere. The URL conf is walked, so a new route is covered automatically:
a route with an object id that this table does not know fails the test until it is added here."""

from datetime import timedelta

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from chats.models import Chat, Message
from images.models import GeneratedImage, Generation, Tag
from ops.models import DataExport
from profiles.models import ApiKey, ApiToken, ImageProfile
from profiles.services import api_token_create
from sharing.models import Share

pytestmark = pytest.mark.django_db

# URL name -> which of alice's objects its `pk` refers to.
OWNED_ROUTES = {
    "chat-detail": "chat",
    "chat-message-create": "chat",
    "chat-delete": "chat",
    "chat-rename": "chat",
    "chat-model-update": "chat",
    "chat-message-stream": "message",
    "generation-reroll": "generation",
    "generation-card": "generation",
    "generation-preview": "generation",
    "generation-cancel": "generation",
    "generation-retry": "generation",
    "gallery-detail": "image",
    "image-file": "image",
    "image-thumbnail": "image",
    "api:chat-detail": "chat",
    "api:chat-messages": "chat",
    "api:generation-detail": "generation",
    "api:generation-cancel": "generation",
    "api:generation-save-to-gallery": "generation",  # issue 5: the image modal's "Save to gallery"
    "api:image-detail": "image",
    "api:image-download": "image",
    "gallery-favorite": "image",
    "gallery-tags": "image",
    "gallery-delete": "image",
    "gallery-generate": "image",
    "image-download": "image",
    "tag-rename": "tag",
    "tag-delete": "tag",
    "account-export-download": "export",
    # profiles (issue 4): keys, image profiles, API tokens, the chat's profile choice
    "chat-profile": "chat",
    "settings-api-key-validate": "api_key",
    "settings-api-key-delete": "api_key",
    "settings-profile-edit": "profile",
    "settings-profile-delete": "profile",
    "settings-profile-default": "profile",
    "settings-token-revoke": "token",
    "api:api-key-detail": "api_key",
    "api:api-key-validate": "api_key",
    "api:image-profile-detail": "profile",
    "api:image-profile-set-default": "profile",
    "api:token-detail": "token",
    # issue 12: an image's type and "edit with a prompt" (uploads and imports are images like any other)
    "gallery-type": "image",
    "gallery-edit": "image",
    # issue 12: share links (the public /s/<token>/ routes use a token, not a pk)
    "gallery-share": "image",
    "tag-share": "tag",
    "share-revoke": "share",
    "api:share-detail": "share",
}
SKIPPED_NAMESPACES = ("admin",)  # staff-only; the admin has its own permission model


def routes_with_ids(patterns=None, namespace=""):
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or ""
            if ns in SKIPPED_NAMESPACES:
                continue
            yield from routes_with_ids(entry.url_patterns, f"{namespace}{ns}:" if ns else namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            converters = getattr(entry.pattern, "converters", {}) or {}
            regex_groups = entry.pattern.regex.groupindex
            if "pk" in converters or "pk" in regex_groups:
                yield f"{namespace}{entry.name}"


@pytest.fixture
def alices_things(alice):
    chat = Chat.objects.create(owner=alice, title="alice's chat")
    message = Message.objects.create(chat=chat, role="assistant", kind="image")
    generation = Generation.objects.create(
        owner=alice, chat=chat, message=message, provider="offline", prompt="alice's fox", status="succeeded"
    )
    image = GeneratedImage.objects.create(
        generation=generation, owner=alice, file="images/1/img_0000000000000000.png",
        thumbnail="images/1/thumbs/img_0000000000000000.webp", sha256="0" * 64, width=8, height=8,
        mime_type="image/png", bytes=10,
    )
    export = DataExport.objects.create(
        owner=alice, status="ready", file="exports/1/export_alice.zip", expires_at=timezone.now() + timedelta(days=1)
    )
    tag = Tag.objects.create(owner=alice, name="alice's tag")  # gallery tags (tag-rename, tag-delete)
    image.tags.add(tag)
    api_key = ApiKey(owner=alice, provider="openai", label="alice's key")
    api_key.set_secret("sk-alice-secret-0000")
    api_key.save()
    profile = ImageProfile.objects.create(owner=alice, name="alice's profile", provider="openai", api_key=api_key,
                                          is_default=True)
    token, _ = api_token_create(owner=alice, name="alice's token")
    share = Share.objects.create(owner=alice, kind="image", image=image)
    return {"share": share, "chat": chat, "generation": generation, "image": image, "export": export, "message": message, "tag": tag,
            "api_key": api_key, "profile": profile, "token": token}


def snapshot(things):
    return {
        "chats": list(Chat.objects.values()),
        "messages": list(Message.objects.values()),
        "generations": list(Generation.objects.values()),
        "images": list(GeneratedImage.objects.values()),
        "tags": list(Tag.objects.values()),
        "image_tags": list(GeneratedImage.tags.through.objects.values()),
        "api_keys": list(ApiKey.objects.values()),
        "image_profiles": list(ImageProfile.objects.values()),
        "api_tokens": list(ApiToken.objects.values()),
        "shares": list(Share.objects.values()),
    }


def test_every_route_with_an_id_is_in_the_table():
    unknown = sorted(set(routes_with_ids()) - set(OWNED_ROUTES))
    assert not unknown, f"add these routes to OWNED_ROUTES so their ownership is tested: {unknown}"


@pytest.mark.parametrize("route", sorted(OWNED_ROUTES))
def test_another_users_object_is_a_404(route, alices_things, bob):
    assert route in set(routes_with_ids()), f"{route} no longer exists; remove it from OWNED_ROUTES"
    target = alices_things[OWNED_ROUTES[route]]
    url = reverse(route, kwargs={"pk": target.pk})
    client = APIClient()
    client.force_login(bob)
    before = snapshot(alices_things)
    statuses = {}
    for method in ("get", "post", "put", "patch", "delete"):
        statuses[method] = getattr(client, method)(url, {"content": "/image stolen", "title": "pwned"}, format="json").status_code
    # 405 (method not allowed) does not depend on the object; every other answer must be 404.
    assert set(statuses.values()) <= {404, 405}, statuses
    assert 404 in statuses.values(), statuses
    assert snapshot(alices_things) == before


def test_lists_show_only_your_own(alices_things, bob):
    client = APIClient()
    client.force_login(bob)
    for route in ("api:chat-list", "api:generation-list", "api:image-list", "api:api-key-list",
                  "api:image-profile-list", "api:token-list"):
        assert client.get(reverse(route)).json()["count"] == 0
    client.force_login(bob)
    html = client.get(reverse("gallery")).content.decode()
    assert "alice&#x27;s fox" not in html and "0 images" in html
    assert "alice&#x27;s chat" not in client.get(reverse("chat-list")).content.decode()


def test_anonymous_visitors_are_sent_to_log_in(alices_things, client):
    for name in ("chat-list", "gallery"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    for route, kind in OWNED_ROUTES.items():
        url = reverse(route, kwargs={"pk": alices_things[kind].pk})
        status = client.get(url).status_code
        assert status in (302, 401, 403, 405), (route, status)
