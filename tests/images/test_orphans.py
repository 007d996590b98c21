import os
import time
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("media_orphans", *args, stdout=out)
    return out.getvalue()


def age(media_root, name: str, seconds: int) -> None:
    path = media_root / name
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_orphans_are_reported_then_deleted_and_referenced_files_never(alice, make_image, media_root):
    kept = make_image(alice)
    orphan = f"images/{alice.pk}/img_{'a' * 16}.png"
    young = f"images/{alice.pk}/img_{'b' * 16}.png"
    default_storage.save(orphan, ContentFile(b"old"))
    default_storage.save(young, ContentFile(b"new"))  # a worker may be about to write its row
    for name in (orphan, kept.file, kept.thumbnail):
        age(media_root, name, 7200)
    missing = make_image(alice)
    default_storage.delete(missing.thumbnail)

    report = run()
    assert f"orphan {orphan}" in report and young not in report
    assert f"missing {missing.thumbnail}" in report
    assert "1 orphan, 1 missing" in report
    assert default_storage.exists(orphan)  # report only by default

    report = run("--delete")
    assert f"deleted {orphan}" in report
    assert not default_storage.exists(orphan)
    assert default_storage.exists(young) and default_storage.exists(kept.file) and default_storage.exists(kept.thumbnail)

    assert f"orphan {young}" in run("--min-age", "0")
