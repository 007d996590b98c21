"""T50: `manage.py check_jobs` reports every broken invariant and exits non-zero; a healthy database passes."""

import os
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from images.models import Generation
from images.services import generation_run, generation_start

pytestmark = pytest.mark.django_db


def test_t50_a_healthy_database_has_no_violations(alice, fake_profile, capsys):
    generation_run(generation_id=generation_start(owner=alice, prompt="a fox").pk)
    call_command("check_jobs")
    assert "no violations" in capsys.readouterr().out


def test_t50_each_broken_invariant_is_reported(alice, bob, fake_profile, media_root, capsys):
    done = generation_start(owner=alice, prompt="a fox")
    generation_run(generation_id=done.pk)
    image = done.images.get()
    stuck = Generation.objects.create(owner=alice, prompt="stuck", provider="fake", status="running",
                                      lease_until=timezone.now() - timedelta(seconds=5))
    empty = Generation.objects.create(owner=alice, prompt="empty", provider="fake", status="succeeded")
    (media_root / image.file).unlink()
    # Under bob's folder: alice has a job running, which may yet commit a row naming a file of hers.
    orphan = media_root / "images" / str(bob.pk) / "img_00000000deadbeef.png"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"x")
    old = time.time() - 2 * 24 * 3600
    os.utime(orphan, (old, old))

    with pytest.raises(SystemExit) as exit_info:
        call_command("check_jobs")
    out = capsys.readouterr().out
    assert exit_info.value.code == 1
    assert f"generation {stuck.pk} is running past its lease" in out
    assert f"generation {empty.pk} succeeded with no image" in out
    assert f"image {image.pk} refers to a missing file {image.file}" in out
    assert f"file images/{bob.pk}/img_00000000deadbeef.png is referenced by no image" in out

    # Put things right, so the suite's after-test invariant check passes too.
    Generation.objects.filter(pk__in=[stuck.pk, empty.pk, done.pk]).delete()
    for path in media_root.rglob("*.*"):
        path.unlink()
