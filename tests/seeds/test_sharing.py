"""Share links (seed 004 collaborative galleries): one image or a tagged collection, read-only by an unguessable
token, revocable, optional expiry; the public page shows images and typed prompts only; another signed-in user can
save a copy into their own gallery."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import time_machine
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from chats.models import Chat
from images.models import GeneratedImage, Tag
from sharing.models import Share
from tests.images.conftest import create_image, image_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices(alice):
    chat = Chat.objects.create(owner=alice, title="Secret chat title")
    fox = create_image(alice, prompt="a red fox in snow", chat=chat, data=image_bytes(colour=(200, 40, 40)))
    fox.generation.refined_prompt = "a red fox in snow; context: divorce lawyer meeting"  # from the chat: private
    fox.generation.save()
    owl = create_image(alice, prompt="an owl at night", data=image_bytes(colour=(20, 20, 90)))
    private = create_image(alice, prompt="my passport photo", data=image_bytes(colour=(1, 200, 1)))
    tag = Tag.objects.create(owner=alice, name="birds")
    owl.tags.add(tag)
    fox.tags.add(Tag.objects.create(owner=alice, name="private-tag-name"))
    return {"chat": chat, "fox": fox, "owl": owl, "private": private, "tag": tag}


def share_link(alice_client, url: str, **fields) -> Share:
    response = alice_client.post(url, fields)
    assert response.status_code == 302 and response["Location"].startswith(reverse("share-list"))
    return Share.objects.order_by("-pk").first()


def test_owner_shares_one_image_and_the_public_page_shows_only_image_and_typed_prompt(alices, alice_client):
    share = share_link(alice_client, reverse("gallery-share", args=[alices["fox"].pk]))
    assert len(share.token) >= 43 and share.kind == "image" and share.expires_at is None
    manage = alice_client.get(reverse("share-list")).content.decode()
    assert f"/s/{share.token}/" in manage and "active" in manage

    visitor = Client()
    page = visitor.get(f"/s/{share.token}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "a red fox in snow" in html and "A shared image" in html
    for secret in ("alice", "Secret chat title", "divorce", "private-tag-name", "my passport photo", "owl"):
        assert secret not in html, secret
    assert page["Cache-Control"] == "private, no-store" and page["Referrer-Policy"] == "same-origin"
    assert "noindex" in page["X-Robots-Tag"]
    assert "Sign in to save" in html

    file = visitor.get(reverse("shared-file", args=[share.token, alices["fox"].pk]))
    thumb = visitor.get(reverse("shared-thumbnail", args=[share.token, alices["fox"].pk]))
    assert file.status_code == 200 and file["Content-Type"] == "image/png"
    assert b"".join(file.streaming_content) == default_storage.open(alices["fox"].file).read()
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/webp"
    for response in (file, thumb):  # the same safe headers as images/views.py, and never cached past a revoke
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
        assert response["Cache-Control"] == "private, no-store"
    # The token opens this share's image only, not the owner's other images.
    assert visitor.get(reverse("shared-file", args=[share.token, alices["private"].pk])).status_code == 404
    assert visitor.get(reverse("shared-thumbnail", args=[share.token, alices["owl"].pk])).status_code == 404
    assert visitor.get(reverse("image-file", args=[alices["fox"].pk])).status_code == 302  # owner route: sign in


def test_a_tag_share_is_live_and_shows_only_that_tags_images_of_the_owner(alices, alice, bob, alice_client):
    share = share_link(alice_client, reverse("tag-share", args=[alices["tag"].pk]), title="Birds of the north",
                       show_owner="on", expires_in_days="7")
    assert share.kind == "tag" and share.show_owner
    assert timedelta(days=6, hours=23) < share.expires_at - timezone.now() <= timedelta(days=7)
    bobs = create_image(bob, prompt="bob's bird")
    bobs.tags.add(Tag.objects.create(owner=bob, name="birds"))  # same tag name, another owner: not shared

    html = Client().get(share.get_absolute_url()).content.decode()
    assert "Birds of the north" in html and "Shared by <span class=\"shared-owner\">alice</span>" in html
    assert "an owl at night" in html and "bob&#x27;s bird" not in html and "a red fox" not in html

    alices["fox"].tags.add(alices["tag"])  # tagging later adds to the shared collection
    alices["owl"].tags.remove(alices["tag"])
    html = Client().get(share.get_absolute_url()).content.decode()
    assert "a red fox in snow" in html and "an owl at night" not in html
    assert Client().get(reverse("shared-file", args=[share.token, alices["owl"].pk])).status_code == 404


def test_revoking_makes_every_link_404_at_once_and_expiry_does_too(alices, alice_client):
    share = share_link(alice_client, reverse("gallery-share", args=[alices["fox"].pk]), expires_in_days="1")
    urls = [share.get_absolute_url(), reverse("shared-file", args=[share.token, alices["fox"].pk]),
            reverse("shared-thumbnail", args=[share.token, alices["fox"].pk]),
            reverse("api:shared", args=[share.token])]
    visitor = Client()
    assert [visitor.get(u).status_code for u in urls] == [200, 200, 200, 200]
    with time_machine.travel(timezone.now() + timedelta(days=1, minutes=1)):
        assert [visitor.get(u).status_code for u in urls] == [404, 404, 404, 404]

    assert alice_client.post(reverse("share-revoke", args=[share.pk])).status_code == 302
    assert [visitor.get(u).status_code for u in urls] == [404, 404, 404, 404]
    share.refresh_from_db()
    assert share.status == "revoked"
    assert "no longer works" in alice_client.get(reverse("share-list")).content.decode()
    assert Client().get("/s/not-a-real-token-at-all/").status_code == 404


def test_another_user_saves_a_shared_image_into_their_own_gallery(alices, alice, bob, alice_client, bob_client):
    share = share_link(alice_client, reverse("gallery-share", args=[alices["fox"].pk]))
    assert "Save to my gallery" in bob_client.get(share.get_absolute_url()).content.decode()

    response = bob_client.post(reverse("shared-save", args=[share.token, alices["fox"].pk]))
    copy = GeneratedImage.objects.get(owner=bob)
    assert response.status_code == 302 and response["Location"] == copy.get_absolute_url()
    assert copy.file.startswith(f"images/{bob.pk}/") and copy.source == "import"
    assert copy.generation.owner == bob and copy.generation.prompt == "a red fox in snow"
    assert "divorce" not in copy.generation.refined_prompt and copy.generation.chat is None
    original = Image.open(io.BytesIO(default_storage.open(alices["fox"].file).read()))
    saved = Image.open(io.BytesIO(default_storage.open(copy.file).read()))
    assert saved.size == original.size and saved.convert("RGB").tobytes() == original.convert("RGB").tobytes()
    assert bob_client.get(copy.get_absolute_url()).status_code == 200
    assert bob_client.get(reverse("image-file", args=[copy.pk])).status_code == 200
    assert list(copy.tags.all()) == []  # alice's tags stay hers

    # Anonymous visitors are sent to sign in; the owner cannot "save" her own image; revoked: 404.
    anonymous = Client().post(reverse("shared-save", args=[share.token, alices["fox"].pk]))
    assert anonymous.status_code == 302 and reverse("login") in anonymous["Location"]
    alice_client.post(reverse("shared-save", args=[share.token, alices["fox"].pk]))
    assert GeneratedImage.objects.filter(owner=alice).count() == 3
    Share.objects.filter(pk=share.pk).update(revoked_at=timezone.now())
    assert bob_client.post(reverse("shared-save", args=[share.token, alices["fox"].pk])).status_code == 404
    assert GeneratedImage.objects.filter(owner=bob).count() == 1


def test_the_api_creates_lists_and_revokes_and_the_public_api_reads_and_saves(alices, alice, bob, alice_api):
    created = alice_api.post(reverse("api:share-list"), {"image": alices["fox"].pk, "expires_in_days": 30},
                             format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["kind"] == "image" and body["status"] == "active" and body["url"].endswith(f"/s/{body['token']}/")
    by_tag = alice_api.post(reverse("api:share-list"), {"tag": "birds", "show_owner": True}, format="json")
    assert by_tag.status_code == 201 and by_tag.json()["kind"] == "tag"

    bob_api = APIClient()
    bob_api.force_authenticate(bob)
    stolen = bob_api.post(reverse("api:share-list"), {"image": alices["fox"].pk}, format="json")
    assert stolen.status_code == 400 and stolen.json()["code"] == "validation_error"
    assert bob_api.post(reverse("api:share-list"), {"tag": "birds"}, format="json").status_code == 400
    neither = alice_api.post(reverse("api:share-list"), {"title": "x"}, format="json")
    assert neither.status_code == 400
    assert bob_api.get(reverse("api:share-list")).json()["count"] == 0
    assert alice_api.get(reverse("api:share-list")).json()["count"] == 2

    public = APIClient().get(reverse("api:shared", args=[body["token"]])).json()
    assert public["owner"] is None and public["title"] == "A shared image"
    assert [i["prompt"] for i in public["images"]] == ["a red fox in snow"]
    assert "refined_prompt" not in public["images"][0] and "chat" not in public["images"][0]
    tag_public = APIClient().get(reverse("api:shared", args=[by_tag.json()["token"]])).json()
    assert tag_public["owner"] == "alice" and [i["prompt"] for i in tag_public["images"]] == ["an owl at night"]

    save_url = reverse("api:shared-save", args=[body["token"], alices["fox"].pk])
    assert APIClient().post(save_url).status_code in (401, 403)
    saved = bob_api.post(save_url)
    assert saved.status_code == 201 and GeneratedImage.objects.get(pk=saved.json()["id"]).owner == bob

    share_id = body["id"]
    assert bob_api.delete(reverse("api:share-detail", args=[share_id])).status_code == 404
    assert alice_api.delete(reverse("api:share-detail", args=[share_id])).status_code == 204
    assert APIClient().get(reverse("api:shared", args=[body["token"]])).status_code == 404
    assert alice_api.get(reverse("api:share-detail", args=[share_id])).json()["status"] == "revoked"


def test_the_admin_lists_shares_and_revokes_them(alices, alice, admin_client):
    share = Share.objects.create(owner=alice, kind="image", image=alices["fox"])
    page = admin_client.get(reverse("admin:sharing_share_changelist")).content.decode()
    assert "image #" in page and "active" in page
    assert admin_client.get(reverse("admin:sharing_share_change", args=[share.pk])).status_code == 200
    response = admin_client.post(reverse("admin:sharing_share_changelist"),
                                 {"action": "revoke", "_selected_action": [share.pk]})
    assert response.status_code == 302
    share.refresh_from_db()
    assert share.revoked_at is not None
    assert Client().get(share.get_absolute_url()).status_code == 404


def test_deleting_the_image_or_tag_ends_the_share(alices, alice):
    image_share = Share.objects.create(owner=alice, kind="image", image=alices["owl"])
    tag_share = Share.objects.create(owner=alice, kind="tag", tag=alices["tag"])
    alices["owl"].delete()
    alices["tag"].delete()
    assert not Share.objects.filter(pk__in=[image_share.pk, tag_share.pk]).exists()


def test_the_gallery_detail_and_tag_pages_offer_share_forms(alices, alice_client):
    detail = alice_client.get(reverse("gallery-detail", args=[alices["fox"].pk])).content.decode()
    assert 'id="share-form-image"' in detail and reverse("gallery-share", args=[alices["fox"].pk]) in detail
    tags = alice_client.get(reverse("tag-list")).content.decode()
    assert f'id="share-form-{alices["tag"].pk}"' in tags and reverse("tag-share", args=[alices["tag"].pk]) in tags
    assert reverse("share-list") in alice_client.get(reverse("gallery")).content.decode()
