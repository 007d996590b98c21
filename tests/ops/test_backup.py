"""backup → fresh database and empty storage → restore → the same users, chats, images (byte-identical), settings."""

import io
import json
import tarfile

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from chats.models import Chat
from chats.services import chat_message_post
from images.models import GeneratedImage, Generation
from ops.files import walk
from profiles.models import ApiKey, ImageProfile
from tests.ops.snapshot import snapshot

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def instance(alice, bob):
    """Two users with chats, real generated images (offline renderer), keys and profiles."""
    key = ApiKey(owner=alice, provider="openai", label="work")
    key.set_secret("sk-test-alice-0123456789")
    key.save()
    ImageProfile.objects.create(owner=alice, name="sketch", provider="offline", parameters={"steps": 3})
    for user, prompt in ((alice, "/image a fox at dawn --seed 1 --n 2"), (bob, "/image a heron --seed 2")):
        chat = Chat.objects.create(owner=user, title=f"{user.username}'s chat")
        chat_message_post(chat=chat, content=prompt)
        chat_message_post(chat=chat, content="a plain message")
    assert GeneratedImage.objects.count() == 3


def make_fresh(media_root):
    """An empty instance: a freshly migrated, empty database and no stored files."""
    import shutil

    call_command("flush", interactive=False, verbosity=0)
    shutil.rmtree(media_root, ignore_errors=True)
    assert not get_user_model().objects.exists() and not list(walk(""))


@pytest.mark.parametrize("db_format", ["sqlite", "dump"])
def test_backup_then_restore_into_a_fresh_instance_gives_back_everything(instance, media_root, tmp_path, db_format):
    before = snapshot()
    assert len(before["files"]) == 6  # 3 images + 3 thumbnails
    archive = tmp_path / "backup.tar.gz"
    call_command("backup", str(archive), "--db-format", db_format, verbosity=0)

    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "manifest.json" in names and sum(n.startswith("files/") for n in names) == 6

    make_fresh(media_root)
    call_command("restore", str(archive), verbosity=0)

    after = snapshot()
    assert after == before  # rows, decrypted keys, and every file's sha256
    # The restored instance works: a new generation for alice lands next to the old ones.
    chat = Chat.objects.get(owner__username="alice")
    chat_message_post(chat=chat, content="/image one more --seed 9")
    assert Generation.objects.filter(status="succeeded").count() == 3


def rewrite_archive(source_path, target_path, change) -> None:
    """A copy of a backup archive with each member's bytes passed through change(member, data)."""
    with tarfile.open(source_path) as source, tarfile.open(target_path, "w") as target:
        for member in source.getmembers():
            data = change(member, source.extractfile(member).read())
            member.size = len(data)
            target.addfile(member, io.BytesIO(data))


def test_restore_refuses_an_instance_that_has_users(instance, tmp_path):
    archive = tmp_path / "backup.tar"
    call_command("backup", str(archive), verbosity=0)
    with pytest.raises(CommandError, match="already has users"):
        call_command("restore", str(archive), verbosity=0)


def test_a_damaged_archive_is_refused_and_names_the_problem(instance, media_root, tmp_path):
    archive = tmp_path / "backup.tar"
    call_command("backup", str(archive), verbosity=0)
    damaged = tmp_path / "damaged.tar"

    def flip_a_bit(member, data: bytes) -> bytes:
        if member.name.startswith("files/images/") and member.name.endswith(".png"):
            return data[:-1] + bytes([data[-1] ^ 1])
        return data

    rewrite_archive(archive, damaged, flip_a_bit)
    make_fresh(media_root)
    with pytest.raises(CommandError, match="does not match its sha256"):
        call_command("restore", str(damaged), verbosity=0)


def test_restore_with_other_encryption_keys_says_the_api_keys_are_lost(instance, media_root, tmp_path, settings, capsys):
    from cryptography.fernet import Fernet

    archive = tmp_path / "backup.tar"
    call_command("backup", str(archive))
    assert "FIELD_ENCRYPTION_KEYS" in capsys.readouterr().out
    make_fresh(media_root)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    call_command("restore", str(archive))
    captured = capsys.readouterr()
    assert "Only 0 of 1 API keys decrypt" in captured.err
    assert Chat.objects.count() == 2 and GeneratedImage.objects.count() == 3  # everything else is back


@pytest.mark.parametrize("hostile", ["../../settings.py", "/etc/passwd", "images/1/../../x.png", "images/./x.png",
                                     "images\\\\..\\\\x.png", "images/1/x\x00.png", "", "images/1/ok.png/.."])
def test_an_archive_naming_a_file_outside_the_media_layout_is_refused_before_anything_changes(
        instance, media_root, tmp_path, hostile):
    archive = tmp_path / "backup.tar"
    call_command("backup", str(archive), verbosity=0)
    tampered = tmp_path / "tampered.tar"

    def rename_the_first_file(member, data: bytes) -> bytes:
        if member.name != "manifest.json":
            return data
        manifest = json.loads(data)
        manifest["files"][0]["name"] = hostile
        return json.dumps(manifest).encode()

    rewrite_archive(archive, tampered, rename_the_first_file)
    make_fresh(media_root)
    with pytest.raises(CommandError, match="not a stored file name"):
        call_command("restore", str(tampered), verbosity=0)
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.exists()  # the database was not touched


def test_every_name_a_backup_writes_passes_the_restore_check(instance, tmp_path):
    from ops.backup import check_file_names

    archive = tmp_path / "backup.tar"
    call_command("backup", str(archive), verbosity=0)
    with tarfile.open(archive) as source:
        manifest = json.load(source.extractfile("manifest.json"))
    assert len(manifest["files"]) >= 4
    check_file_names(manifest)
