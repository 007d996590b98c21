"""T45: a worker that dies mid-run (its lease expires) is recovered by the sweeper; a late worker writes nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from images.jobs import sweep
from images.models import GeneratedImage, Generation
from images.services import generation_run, generation_start
from tests.fakes import png_bytes
from tests.jobs.conftest import task_rows

pytestmark = pytest.mark.django_db


def stranded(owner, *, attempts: int) -> Generation:
    """A job as a SIGKILLed worker leaves it: running, lease in the past."""
    generation = generation_start(owner=owner, prompt="a fox")
    task_rows(generation.pk).delete()  # the dead worker took its task off the ORM queue (enqueued with the row)
    Generation.objects.filter(pk=generation.pk).update(
        status="running", attempts=attempts, started_at=timezone.now() - timedelta(minutes=12),
        lease_until=timezone.now() - timedelta(seconds=1),
    )
    return generation


def test_t45_an_expired_lease_with_attempts_left_is_requeued_and_finished(alice, fake_profile, database_queue):
    generation = stranded(alice, attempts=1)
    report = sweep()
    assert report.requeued == [generation.pk]
    generation.refresh_from_db()
    assert (generation.status, generation.lease_until) == ("queued", None)
    assert task_rows(generation.pk).count() == 1
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert (generation.status, generation.attempts, generation.error_code) == ("succeeded", 2, "")
    assert generation.images.count() == 1


def test_t45_an_expired_lease_on_the_last_attempt_fails_as_worker_lost(alice, fake_profile, database_queue):
    generation = stranded(alice, attempts=3)
    assert sweep().worker_lost == [generation.pk]
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == ("failed", "worker_lost")
    assert task_rows(generation.pk).count() == 0
    assert "worker stopped" in generation.error_hint


def test_t45_a_live_lease_is_left_alone(alice, fake_profile):
    generation = stranded(alice, attempts=1)
    Generation.objects.filter(pk=generation.pk).update(lease_until=timezone.now() + timedelta(minutes=5))
    assert sweep().requeued == []
    generation.refresh_from_db()
    assert generation.status == "running"
    generation.status = "canceled"  # leave the database satisfying the invariants
    generation.save()


def test_t45_two_sweepers_at_once_requeue_a_job_once(alice, fake_profile, database_queue):
    generation = stranded(alice, attempts=1)
    now = timezone.now()
    first, second = sweep(now=now), sweep(now=now)
    assert first.requeued == [generation.pk] and second.requeued == []
    assert task_rows(generation.pk).count() == 1
    generation_run(generation_id=generation.pk)


def test_t45_a_worker_that_outlived_its_lease_writes_nothing(alice, fake_profile, fake_provider, settings):
    """Worker A stalls past its lease; the sweeper requeues; worker B finishes; A's late result is discarded."""
    generation = generation_start(owner=alice, prompt="a fox")

    def stall_past_the_lease():
        later = Generation.objects.get(pk=generation.pk).lease_until + timedelta(seconds=1)
        assert sweep(now=later, files=False).requeued == [generation.pk]
        generation_run(generation_id=generation.pk)  # worker B, attempt 2
        return png_bytes(colour=(1, 2, 3))  # A's (different) image arrives late

    fake_provider.script = [stall_past_the_lease, png_bytes()]
    generation_run(generation_id=generation.pk)  # worker A, attempt 1
    generation.refresh_from_db()
    assert (generation.status, generation.attempts) == ("succeeded", 2)
    assert GeneratedImage.objects.filter(generation=generation).count() == 1
    # A's image was stored (content-addressed) but no row refers to it: the sweeper collects it after a day.
    assert len(sweep(now=timezone.now() + timedelta(days=2)).orphans_deleted) == 2
