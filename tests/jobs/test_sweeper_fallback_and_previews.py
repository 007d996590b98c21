"""The sweeper's follow-ups to T45: a job whose worker died on its profile's last attempt continues on the profile's
fallback (seed 004 error recovery, as images/fallback.py does for provider failures), and live previews left by a
dead worker are swept (images/previews.py)."""

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from images import previews
from images.jobs import find_violations, sweep
from images.models import GeneratedImage, Generation
from images.services import generation_run, generation_start
from profiles.models import ImageProfile
from tests.fakes import png_bytes
from tests.jobs.conftest import task_rows

pytestmark = pytest.mark.django_db

NOTE = "Fake failed (worker lost); made with Offline sketch (built in) instead"


@pytest.fixture
def fake_then_offline(alice, fake_provider):
    """Profile A (the scriptable fake, default) falls back to profile B (the built-in offline renderer)."""
    b = ImageProfile.objects.create(owner=alice, name="B", provider="offline")
    a = ImageProfile.objects.create(owner=alice, name="A", provider="fake", fallback=b, is_default=True)
    return a, b


def stranded(owner, *, attempts: int, preview: bytes | None = None) -> Generation:
    """A job as a SIGKILLed worker leaves it: running on its `attempts`-th attempt, lease in the past, and (when given)
    the live preview that worker had recorded."""
    generation = generation_start(owner=owner, prompt="a fox")
    task_rows(generation.pk).delete()  # the dead worker took its task off the ORM queue (enqueued with the row)
    Generation.objects.filter(pk=generation.pk).update(
        status="running", attempts=attempts, started_at=timezone.now() - timedelta(minutes=12),
        lease_until=timezone.now() - timedelta(seconds=1),
    )
    generation.refresh_from_db()
    if preview is not None:
        assert previews.record(generation, 40, preview)
        generation.refresh_from_db()
        assert default_storage.exists(generation.preview)
    return generation


# --- 1. worker lost on the profile's last attempt: the fallback takes over -----------------------------------------


def test_a_job_lost_on_its_last_attempt_continues_on_the_fallback(alice, alice_client, fake_then_offline,
                                                                   database_queue, django_capture_on_commit_callbacks):
    a, b = fake_then_offline
    generation = stranded(alice, attempts=3)
    model_on_a = generation.model
    with django_capture_on_commit_callbacks(execute=True):
        report = sweep(files=False)
    assert (report.fell_back, report.worker_lost, report.requeued) == ([generation.pk], [], [])
    assert "moved 1 to their fallback profile" in str(report)
    generation.refresh_from_db()
    assert (generation.status, generation.profile_id, generation.provider) == ("queued", b.pk, "offline")
    assert (generation.attempt_base, generation.attempts_on_profile, generation.lease_until) == (3, 0, None)
    assert generation.error_code == "worker_lost"
    assert generation.parameters["tried_profiles"] == [a.pk]
    assert generation.parameters["fallback_from"] == {"profile": a.pk, "provider": "fake", "model": model_on_a,
                                                      "error_code": "worker_lost", "status": None}
    assert generation.warnings == [NOTE]
    assert task_rows(generation.pk).count() == 1  # enqueued once, for the fallback's first attempt

    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert (generation.status, generation.attempts, generation.error_code) == ("succeeded", 4, "")
    assert generation.images.count() == 1
    card = alice_client.get(reverse("generation-card", args=[generation.pk])).content.decode()
    assert NOTE in card  # the card says so, as it does for a provider failure


def test_two_sweepers_at_once_move_a_lost_job_to_the_fallback_once(alice, fake_then_offline, database_queue,
                                                                    django_capture_on_commit_callbacks):
    generation = stranded(alice, attempts=3)
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        first, second = sweep(now=now, files=False), sweep(now=now, files=False)
    assert first.fell_back == [generation.pk]
    assert (second.fell_back, second.worker_lost, second.requeued) == ([], [], [])
    generation.refresh_from_db()
    assert generation.warnings == [NOTE] and generation.attempt_base == 3
    assert task_rows(generation.pk).count() == 1


def test_a_sweeper_that_read_the_row_before_another_moved_it_changes_nothing(alice, fake_then_offline,
                                                                              database_queue):
    """The compare-and-set, step by step: sweeper 2 read the expired row, then sweeper 1 moved the job."""
    from images.fallback import continue_lost_on_fallback

    generation = stranded(alice, attempts=3)
    read_by_second = Generation.objects.select_related("profile").get(pk=generation.pk)
    assert sweep(files=False).fell_back == [generation.pk]
    assert continue_lost_on_fallback(read_by_second, lease_until=read_by_second.lease_until) is False
    generation.refresh_from_db()
    assert generation.warnings == [NOTE] and generation.parameters["tried_profiles"] == [read_by_second.profile_id]


def test_a_stalled_worker_whose_job_moved_to_the_fallback_writes_nothing(alice, fake_then_offline, fake_provider):
    """Worker A stalls past its lease on the last attempt; the sweeper moves the job to B, which finishes it; A's
    late image is discarded (the attempt number fences it)."""
    generation = generation_start(owner=alice, prompt="a fox")
    Generation.objects.filter(pk=generation.pk).update(attempts=2)

    def stall_past_the_lease():
        later = Generation.objects.get(pk=generation.pk).lease_until + timedelta(seconds=1)
        assert sweep(now=later, files=False).fell_back == [generation.pk]  # the immediate backend runs B at once
        return png_bytes(colour=(1, 2, 3))

    fake_provider.script = [stall_past_the_lease]
    generation_run(generation_id=generation.pk)  # worker A, attempt 3 of 3 on A
    generation.refresh_from_db()
    assert (generation.status, generation.provider, generation.attempts) == ("succeeded", "offline", 4)
    assert GeneratedImage.objects.filter(generation=generation).count() == 1
    assert generation.warnings[0] == NOTE
    assert len(sweep(now=timezone.now() + timedelta(days=2)).orphans_deleted) == 2  # A's stored image, unreferenced


def test_without_a_usable_fallback_a_lost_last_attempt_still_fails_as_worker_lost(alice, fake_then_offline):
    a, b = fake_then_offline
    b.delete()  # the fallback is gone (SET_NULL): nothing to continue on
    generation = stranded(alice, attempts=3)
    assert sweep(files=False).worker_lost == [generation.pk]
    generation.refresh_from_db()
    assert (generation.status, generation.error_code, generation.warnings) == ("failed", "worker_lost", [])


def test_a_lost_job_with_attempts_left_is_retried_on_its_own_profile_first(alice, fake_then_offline, database_queue):
    generation = stranded(alice, attempts=2)
    report = sweep(files=False)
    assert (report.requeued, report.fell_back) == ([generation.pk], [])
    generation.refresh_from_db()
    assert (generation.status, generation.profile.name) == ("queued", "A")


# --- 2. live previews of a dead worker ---------------------------------------------------------------------------


@pytest.mark.parametrize("attempts, outcome", [(1, "requeued"), (3, "worker_lost")])
def test_the_sweeper_clears_a_dead_workers_preview_with_its_lease(alice, fake_profile, database_queue,
                                                                    attempts, outcome):
    generation = stranded(alice, attempts=attempts, preview=png_bytes(colour=(9, 9, 9)))
    name = generation.preview
    report = sweep(files=False)
    assert getattr(report, outcome) == [generation.pk]
    generation.refresh_from_db()
    assert (generation.preview, generation.progress) == ("", None)
    assert not default_storage.exists(name)
    if outcome == "requeued":
        generation_run(generation_id=generation.pk)  # the next attempt starts with no stale picture, and finishes


def test_the_sweeper_clears_the_preview_of_a_job_moved_to_the_fallback(alice, fake_then_offline, database_queue):
    generation = stranded(alice, attempts=3, preview=png_bytes(colour=(9, 9, 9)))
    name = generation.preview
    assert sweep(files=False).fell_back == [generation.pk]
    generation.refresh_from_db()
    assert (generation.preview, generation.progress) == ("", None)
    assert not default_storage.exists(name)


def test_a_job_canceled_while_its_worker_was_dead_loses_its_preview(alice, fake_profile, alice_client):
    generation = stranded(alice, attempts=1, preview=png_bytes(colour=(9, 9, 9)))
    name = generation.preview
    Generation.objects.filter(pk=generation.pk).update(status="canceled", lease_until=None)  # a cancel; no worker
    assert find_violations() == [f"generation {generation.pk} has ended but still names a live preview"]
    assert sweep(files=False).previews_deleted == [name]
    generation.refresh_from_db()
    assert (generation.preview, generation.progress) == ("", None)
    assert not default_storage.exists(name)
    assert alice_client.get(reverse("generation-preview", args=[generation.pk])).status_code == 404
    assert sweep(files=False).previews_deleted == []  # nothing twice


def test_preview_files_no_row_names_are_deleted_once_their_job_has_ended(alice, fake_profile, settings):
    """A worker killed between saving a picture and recording it leaves a file that no row names."""
    ended = stranded(alice, attempts=1)
    running = stranded(alice, attempts=1)
    Generation.objects.filter(pk=running.pk).update(lease_until=timezone.now() + timedelta(minutes=5))
    current = stranded(alice, attempts=1, preview=png_bytes(colour=(5, 5, 5)))
    Generation.objects.filter(pk=current.pk).update(lease_until=timezone.now() + timedelta(minutes=5))
    Generation.objects.filter(pk=ended.pk).update(status="failed", lease_until=None)
    small = previews.preview_webp(png_bytes(colour=(7, 7, 7)))
    orphan = default_storage.save(previews.preview_name(ended, small), previews.ContentFile(small))
    busy = default_storage.save(previews.preview_name(running, small), previews.ContentFile(small))

    assert sweep(files=True).previews_deleted == []  # younger than a lease: maybe a live worker about to record it
    later = timezone.now() + timedelta(seconds=settings.IMAGEGEN_JOB_LEASE_S + 60)
    Generation.objects.filter(pk__in=[running.pk, current.pk]).update(lease_until=later + timedelta(minutes=5))
    assert sweep(now=later, files=False).previews_deleted == []  # files only on a files pass (a storage listing)
    assert sweep(now=later, files=True).previews_deleted == [orphan]
    assert not default_storage.exists(orphan)
    assert default_storage.exists(busy)  # the running job's: its worker replaces or discards it
    current.refresh_from_db()
    assert default_storage.exists(current.preview)  # named by its row
    Generation.objects.filter(pk__in=[running.pk, current.pk]).update(status="canceled", lease_until=None)
    assert sorted(sweep(now=later, files=True).previews_deleted) == sorted([current.preview, busy])
    assert find_violations() == []
