"""T44: a crash after the files are stored but before the rows commit loses nothing and duplicates nothing."""

import os
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from images.jobs import sweep
from images.models import GeneratedImage, Generation
from images.services import generation_run, generation_start
from tests.jobs.test_t43_delivered_twice import stored_files

pytestmark = pytest.mark.django_db


def test_t44_rerun_after_a_crash_writes_the_same_names_and_one_row(alice, fake_profile, fake_provider, media_root, monkeypatch):
    generation = generation_start(owner=alice, prompt="a fox")
    real_bulk_create = GeneratedImage.objects.bulk_create

    def crash(*args, **kwargs):
        raise SystemExit("worker killed between storage.save and the commit")

    monkeypatch.setattr(GeneratedImage.objects, "bulk_create", crash)
    with pytest.raises(SystemExit):
        generation_run(generation_id=generation.pk)
    files_after_crash = stored_files(media_root)
    generation.refresh_from_db()
    assert generation.status == "running" and GeneratedImage.objects.count() == 0
    assert len(files_after_crash) == 2

    monkeypatch.setattr(GeneratedImage.objects, "bulk_create", real_bulk_create)
    report = sweep(now=generation.lease_until + timedelta(seconds=1), files=False)
    assert report.requeued == [generation.pk]
    generation_run(generation_id=generation.pk)  # the sweeper's re-enqueue, run by the immediate test backend
    generation.refresh_from_db()
    assert (generation.status, generation.attempts) == ("succeeded", 2)
    image = GeneratedImage.objects.get()
    # The same content-hash names, no storage suffix (…_AbCdEf1.png), nothing extra on disk.
    assert stored_files(media_root) == files_after_crash
    assert sorted([image.file, image.thumbnail]) == files_after_crash
    assert not any("_" in name.rsplit("/", 1)[-1].removeprefix("img_") for name in files_after_crash)
    # Referenced files are never orphans, however old.
    assert sweep(now=timezone.now() + timedelta(days=2)).orphans_deleted == []


def test_t44_the_sweeper_deletes_unreferenced_files_only_once_they_are_a_day_old(alice, media_root):
    orphan = media_root / "images" / str(alice.pk) / "img_0123456789abcdef.png"
    orphan_thumb = media_root / "images" / str(alice.pk) / "thumbs" / "img_0123456789abcdef.webp"
    for path in (orphan, orphan_thumb):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"left by a crash")
    assert sweep().orphans_deleted == []  # young: a worker may be about to commit a row for it
    day_ago = time.time() - 25 * 3600
    for path in (orphan, orphan_thumb):
        os.utime(path, (day_ago, day_ago))
    running = Generation.objects.create(owner=alice, prompt="x", provider="offline", status="running",
                                        lease_until=timezone.now() + timedelta(minutes=5))
    assert sweep().orphans_deleted == []  # the owner has a job running that may reuse the file
    running.delete()
    deleted = sweep().orphans_deleted
    assert sorted(deleted) == [f"images/{alice.pk}/img_0123456789abcdef.png", f"images/{alice.pk}/thumbs/img_0123456789abcdef.webp"]
    assert not orphan.exists() and not orphan_thumb.exists()
