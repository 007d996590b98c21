"""A user's own data: "Export my data" (ZIP built by a task, a day to download) and "Delete my account"."""

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from chats.models import Chat
from chats.services import chat_message_post
from images.models import GeneratedImage, Generation
from ops.files import walk
from ops.models import DataExport
from profiles.models import ApiKey

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_users_with_images(alice, bob):
    for user, prompt in ((alice, "/image a fox at dawn --seed 1 --n 2"), (bob, "/image a heron --seed 2")):
        chat = Chat.objects.create(owner=user, title=f"{user.username} & friends")
        chat_message_post(chat=chat, content="hello there")
        chat_message_post(chat=chat, content=prompt)
    key = ApiKey(owner=alice, provider="openai")
    key.set_secret("sk-alice-secret-0123456789")
    key.save()
    assert GeneratedImage.objects.count() == 3


def test_export_builds_a_zip_with_chats_and_images_that_only_its_owner_can_download(
    two_users_with_images, alice, alice_client, bob_client
):
    response = alice_client.post("/account/export/")
    assert response.status_code == 302
    export = DataExport.objects.get()
    assert export.status == "ready" and export.expires_at > timezone.now() + timedelta(hours=23)

    page = alice_client.get("/account/data/").content.decode()
    assert export.download_url in page
    assert bob_client.get(export.download_url).status_code == 404

    download = alice_client.get(export.download_url)
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    names = archive.namelist()
    (chat_json,) = [n for n in names if n.startswith("chats/") and n.endswith(".json")]
    (chat_md,) = [n for n in names if n.startswith("chats/") and n.endswith(".md")]
    chat = json.loads(archive.read(chat_json))
    contents = [m["content"] for m in chat["messages"] if m["role"] == "user"]
    assert contents == ["hello there", "/image a fox at dawn --seed 1 --n 2"]
    generation = next(m["generation"] for m in chat["messages"] if m["generation"])
    assert generation["prompt"] == "a fox at dawn" and len(generation["images"]) == 2
    markdown = archive.read(chat_md).decode()
    assert "# alice & friends" in markdown and "hello there" in markdown and "](../images/" in markdown
    metadata = json.loads(archive.read("images/metadata.json"))
    assert len(metadata) == 2 and {m["prompt"] for m in metadata} == {"a fox at dawn"}
    assert [m["edit_of"] for m in metadata] == [None, None] and generation["edit_of"] is None  # not edits
    for entry in metadata:  # the bytes in the ZIP are the stored image
        image = GeneratedImage.objects.get(pk=entry["id"])
        with default_storage.open(image.file, "rb") as handle:
            assert archive.read(entry["file"]) == handle.read()
    everything = b"".join(archive.read(n) for n in names)
    assert b"heron" not in everything  # bob's data is not in alice's export
    assert b"sk-alice-secret" not in everything  # nor any key
    assert json.loads(archive.read("profiles.json"))["api_keys"][0]["last_four"] == "6789"


def test_an_expired_export_is_gone_and_pruned(two_users_with_images, alice, alice_client):
    from django.core.management import call_command

    alice_client.post("/account/export/")
    export = DataExport.objects.get()
    DataExport.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert alice_client.get(export.download_url).status_code == 404
    assert default_storage.exists(export.file)
    call_command("prune", "--older-than", "90d", verbosity=0)
    assert not DataExport.objects.exists() and not default_storage.exists(export.file)


def test_delete_my_account_needs_confirmation(alice, alice_client):
    response = alice_client.post("/account/delete/", {"confirm_username": "alice", "password": "wrong"})
    assert response.status_code == 400 and "password is not right" in response.content.decode()
    response = alice_client.post("/account/delete/", {"confirm_username": "alicee", "password": "alice-pass-123"})
    assert response.status_code == 400
    assert get_user_model().objects.filter(username="alice").exists()


def test_delete_my_account_removes_everything_of_mine_and_nothing_of_anyone_elses(
    two_users_with_images, alice, bob, alice_client
):
    alice_client.post("/account/export/")
    # An orphan from a crash between storing and committing: under alice's folder, in no row.
    default_storage.save(f"images/{alice.pk}/img_orphan000000000.png", ContentFile(b"orphan"))
    # A file of bob's with the same content-derived name pattern, in bob's folder: must survive.
    bobs_files = set(walk(f"images/{bob.pk}"))
    bobs_rows = list(GeneratedImage.objects.filter(owner=bob).values())
    assert len(bobs_files) == 2

    response = alice_client.post("/account/delete/", {"confirm_username": "alice", "password": "alice-pass-123"})
    assert response.status_code == 302

    assert not get_user_model().objects.filter(username="alice").exists()
    for model in (Chat, Generation, GeneratedImage, ApiKey, DataExport):
        assert not model.objects.filter(owner_id=alice.pk).exists(), model
    assert list(walk(f"images/{alice.pk}")) == [] and list(walk(f"exports/{alice.pk}")) == []
    assert set(walk("")) == bobs_files  # no file of alice's is left, and every one of bob's is there
    assert list(GeneratedImage.objects.filter(owner=bob).values()) == bobs_rows
    assert alice_client.get("/chats/").status_code == 302  # signed out


def test_a_file_another_row_still_references_is_kept(alice, bob):
    """Deletion checks references, not just folders: a row of bob's pointing at the name keeps the file."""
    from ops.accounts import account_delete

    chat = Chat.objects.create(owner=alice)
    chat_message_post(chat=chat, content="/image a shared thing --seed 5")
    image = GeneratedImage.objects.get()
    generation = Generation.objects.create(owner=bob, provider="offline", prompt="copy", status="succeeded")
    GeneratedImage.objects.create(
        generation=generation, owner=bob, file=image.file, thumbnail=image.thumbnail, sha256=image.sha256,
        width=image.width, height=image.height, mime_type=image.mime_type, bytes=image.bytes,
    )
    account_delete(user=alice)
    assert default_storage.exists(image.file) and default_storage.exists(image.thumbnail)
