"""Stored names (images/storage.py): new writes use images/<owner>/<xx>/<sha256>.<ext>; rows made before keep their
images/<owner>/img_<16 hex>.<ext> names, and every path that touches files (serving, deleting, the sweeper,
media_orphans, thumbnails, backup and restore) handles both. The T30 naming tests are in tests/security/test_images.py.
"""

import os
import tarfile
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from images import storage
from images.imaging import sanitize
from images.jobs import find_violations, sweep
from images.models import GeneratedImage, Generation
from images.storage import rebuild_thumbnail, store_image

from .conftest import create_image, image_bytes

pytestmark = pytest.mark.django_db


def legacy_image(owner, data: bytes | None = None, *, prompt: str = "an old fox") -> GeneratedImage:
    """A row and its files as the previous layout stored them (images/<owner>/img_<16 hex>.<ext>)."""
    clean = sanitize(data or image_bytes())
    file = f"images/{owner.pk}/img_{clean.sha256[:16]}.{clean.ext}"
    thumb = f"images/{owner.pk}/thumbs/img_{clean.sha256[:16]}.webp"
    for name, content in ((file, clean.data), (thumb, b"RIFF old thumbnail")):
        if not default_storage.exists(name):
            default_storage.save(name, ContentFile(content))
    generation = Generation.objects.create(owner=owner, provider="offline", prompt=prompt,
                                           status=Generation.Status.SUCCEEDED, parameters={"n": 1})
    return GeneratedImage.objects.create(
        generation=generation, owner=owner, file=file, thumbnail=thumb, sha256=clean.sha256, width=clean.width,
        height=clean.height, mime_type=clean.mime_type, bytes=len(clean.data))


def age(media_root, names, seconds: int = 3 * 86400) -> None:
    old = time.time() - seconds
    for name in names:
        os.utime(media_root / name, (old, old))


def read(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def test_new_writes_use_the_sharded_full_digest_layout(alice, media_root):
    image = create_image(alice)
    assert image.file == f"images/{alice.pk}/{image.sha256[:2]}/{image.sha256}.png"
    assert image.thumbnail == f"images/{alice.pk}/thumbs/{image.sha256[:2]}/{image.sha256}.webp"
    assert image.download_name == f"img_{image.sha256[:16]}.png"  # downloads keep their short name
    assert sorted(p.relative_to(media_root).as_posix() for p in media_root.rglob("*.*")) == sorted(
        [image.file, image.thumbnail])


def test_the_same_bytes_are_stored_once_and_deleted_with_their_last_row(alice, alice_client,
                                                                         django_capture_on_commit_callbacks):
    data = image_bytes()
    first, second = create_image(alice, data=data), create_image(alice, data=data)
    assert (first.file, first.thumbnail) == (second.file, second.thumbnail)
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(reverse("gallery-delete", args=[first.pk]))
    assert default_storage.exists(second.file) and default_storage.exists(second.thumbnail)
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(reverse("gallery-delete", args=[second.pk]))
    assert not default_storage.exists(second.file) and not default_storage.exists(second.thumbnail)


def test_a_rerun_over_a_file_cut_short_by_a_crash_writes_it_whole_under_the_same_name(alice, media_root):
    clean = sanitize(image_bytes())
    name = storage.image_name(alice.pk, clean)
    default_storage.save(name, ContentFile(clean.data[:100]))  # the worker died mid-write (local disk)
    assert store_image(alice.pk, sanitize(clean.data)) == (name, storage.thumbnail_name(alice.pk, clean))
    assert read(name) == clean.data
    assert len(list(media_root.rglob("*.*"))) == 2  # no …_AbCd123.png copy beside it


def test_a_concurrent_writer_of_the_same_bytes_leaves_one_file(alice, media_root, monkeypatch):
    clean = sanitize(image_bytes())
    name, thumb = store_image(alice.pk, clean)
    # Both workers checked before either wrote: the second save finds the name taken and the storage renames it.
    monkeypatch.setattr(storage, "_stored_size", lambda name: None)
    monkeypatch.setattr(FileSystemStorage, "exists", lambda self, name: False)
    assert store_image(alice.pk, sanitize(clean.data)) == (name, thumb)
    assert sorted(p.relative_to(media_root).as_posix() for p in media_root.rglob("*.*")) == sorted([name, thumb])


def test_an_old_style_row_still_serves(alice, alice_client, bob_client, alice_api):
    old = legacy_image(alice)
    response = alice_client.get(reverse("image-file", args=[old.pk]))
    assert response.status_code == 200 and b"".join(response.streaming_content) == read(old.file)
    assert response["Content-Disposition"] == f'inline; filename="img_{old.sha256[:16]}.png"'
    thumb = alice_client.get(reverse("image-thumbnail", args=[old.pk]))
    assert thumb.status_code == 200 and b"".join(thumb.streaming_content) == b"RIFF old thumbnail"
    signed = alice_api.get(reverse("api:image-detail", args=[old.pk])).json()["url"]
    assert bob_client.get(reverse("image-file", args=[old.pk])).status_code == 404
    assert alice_client.get(signed).status_code == 200
    assert find_violations() == []


def test_the_same_bytes_as_an_old_row_get_a_new_name_and_each_row_deletes_its_own(
        alice, alice_client, django_capture_on_commit_callbacks):
    data = image_bytes()
    old = legacy_image(alice, data)
    new = create_image(alice, data=data)
    assert storage.IMAGE_NAME.fullmatch(new.file) and new.file != old.file and new.sha256 == old.sha256
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(reverse("gallery-delete", args=[old.pk]))
    assert not default_storage.exists(old.file) and not default_storage.exists(old.thumbnail)
    assert default_storage.exists(new.file) and default_storage.exists(new.thumbnail)
    assert alice_client.get(reverse("image-file", args=[new.pk])).status_code == 200


def test_an_old_rows_thumbnail_is_rebuilt_in_place(alice):
    old = legacy_image(alice, image_bytes(size=(600, 300)))
    name = old.thumbnail
    assert rebuild_thumbnail(old) == name and read(name)[:4] == b"RIFF" and read(name) != b"RIFF old thumbnail"
    old.refresh_from_db()
    assert old.thumbnail == name


def test_walk_lists_both_layouts_at_any_depth(alice):
    new, old = create_image(alice), legacy_image(alice)
    assert sorted(storage.walk("images")) == sorted([new.file, new.thumbnail, old.file, old.thumbnail])
    assert list(storage.walk("nothing-here")) == []


def test_the_sweeper_collects_orphans_of_both_layouts_and_keeps_what_rows_use(alice, media_root):
    kept_new, kept_old = create_image(alice), legacy_image(alice)
    gone_new, gone_old = create_image(alice), legacy_image(alice)
    Generation.objects.filter(images__in=[gone_new, gone_old]).delete()  # rows gone, files left behind
    names = [x for i in (kept_new, kept_old, gone_new, gone_old) for x in (i.file, i.thumbnail)]
    age(media_root, names)
    deleted = sweep().orphans_deleted
    assert sorted(deleted) == sorted([gone_new.file, gone_new.thumbnail, gone_old.file, gone_old.thumbnail])
    kept = (kept_new.file, kept_new.thumbnail, kept_old.file, kept_old.thumbnail)
    assert all(default_storage.exists(name) for name in kept)
    assert find_violations(now=timezone.now() + timedelta(days=2)) == []


def test_media_orphans_reports_and_deletes_both_layouts(alice, media_root):
    kept_new, kept_old = create_image(alice), legacy_image(alice)
    gone_new, gone_old = create_image(alice), legacy_image(alice)
    Generation.objects.filter(images__in=[gone_new, gone_old]).delete()  # rows gone, files left behind
    age(media_root, [x for i in (kept_new, kept_old, gone_new, gone_old) for x in (i.file, i.thumbnail)])
    out = StringIO()
    call_command("media_orphans", "--delete", stdout=out)
    report = out.getvalue()
    for name in (gone_new.file, gone_new.thumbnail, gone_old.file, gone_old.thumbnail):
        assert f"deleted {name}" in report and not default_storage.exists(name)
    assert "8 files, 4 orphans deleted, 0 missing" in report
    assert sorted(storage.walk("images")) == sorted(
        [kept_new.file, kept_new.thumbnail, kept_old.file, kept_old.thumbnail])


@pytest.mark.django_db(transaction=True)
def test_an_old_style_row_is_backed_up_and_restored(alice, alice_client, media_root, tmp_path):
    from tests.ops.test_backup import make_fresh

    old, new = legacy_image(alice), create_image(alice)
    files = {name: read(name) for name in (old.file, old.thumbnail, new.file, new.thumbnail)}
    archive = tmp_path / "backup.tar"
    call_command("backup", str(archive), verbosity=0)
    with tarfile.open(archive) as tar:
        assert {f"files/{name}" for name in files} <= set(tar.getnames())
    make_fresh(media_root)
    call_command("restore", str(archive), verbosity=0)
    assert {name: read(name) for name in files} == files
    alice_client.force_login(alice)
    response = alice_client.get(reverse("image-file", args=[old.pk]))
    assert response.status_code == 200 and b"".join(response.streaming_content) == files[old.file]
