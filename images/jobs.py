"""Keeping generation jobs honest under at-least-once delivery: fair dispatch order, queue position, the sweeper that
recovers lost work, and the invariant check (SECURITY.md T42–T50).

The Generation row is the truth; task-queue messages are only wake-up calls. Every change made here is a
compare-and-set `UPDATE … WHERE status = … AND <what we read>`, so any number of sweepers on any number of machines
can run at once: for each row exactly one of them wins, and the losers change nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from . import previews, storage
from .models import GeneratedImage, Generation

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
# Task priorities (django-tasks allows -100…100): a user-set priority moves a job by whole bands; inside a band, each
# job a user already has waiting costs one step, so one user's 50 queued jobs don't starve another user's one
# (round-robin by user, as InvokeAI's queue does).
PRIORITY_BAND = 25
MAX_FAIRNESS_STEPS = PRIORITY_BAND - 1
# Queue position is informational; past this many waiting jobs the card says "more than N ahead".
POSITION_SCAN_LIMIT = 1000


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.IMAGEGEN_JOB_LEASE_S)


# --- dispatch order and queue position --------------------------------------------------------------------------


def task_priority(priority: int, waiting_ahead_of_same_owner: int) -> int:
    band = max(-3, min(3, priority)) * PRIORITY_BAND
    return max(-100, min(100, band - min(waiting_ahead_of_same_owner, MAX_FAIRNESS_STEPS)))


def dispatch_priority(generation_id: int) -> int:
    """The task priority to enqueue this generation with (higher runs first)."""
    row = Generation.objects.filter(pk=generation_id).values("owner_id", "priority").first()
    if row is None:
        return 0
    ahead = Generation.objects.filter(
        owner_id=row["owner_id"], status=Generation.Status.QUEUED, pk__lt=generation_id
    ).count()
    return task_priority(row["priority"], ahead)


def queue_position(generation: Generation, *, now: datetime | None = None) -> int | None:
    """1 for next in line, 2 for the one after…; None unless the job is queued and due.

    Mirrors the dispatch order (task priority, then retries before first tries, then age): the same key
    dispatch_priority gives each waiting job when it was enqueued.
    """
    now = now or timezone.now()
    if generation.status != Generation.Status.QUEUED or (generation.next_attempt_at and generation.next_attempt_at > now):
        return None
    waiting = list(
        Generation.objects.filter(status=Generation.Status.QUEUED)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("pk")
        .values_list("pk", "owner_id", "priority", "attempts")[:POSITION_SCAN_LIMIT]
    )
    seen_per_owner: dict[int, int] = {}
    keys = {}
    for pk, owner_id, priority, attempts in waiting:
        ahead = seen_per_owner.get(owner_id, 0)
        seen_per_owner[owner_id] = ahead + 1
        keys[pk] = (-task_priority(priority, ahead), 0 if attempts else 1, pk)
    mine = keys.get(generation.pk)
    if mine is None:
        return POSITION_SCAN_LIMIT + 1
    return 1 + sum(1 for key in keys.values() if key < mine)


# --- the sweeper -----------------------------------------------------------------------------------------------


@dataclass
class SweepReport:
    requeued: list[int] = field(default_factory=list)  # lease expired, attempts left: queued again
    fell_back: list[int] = field(default_factory=list)  # lease expired on the profile's last attempt: on its fallback
    worker_lost: list[int] = field(default_factory=list)  # lease expired on the last attempt, no fallback: failed
    reenqueued: list[int] = field(default_factory=list)  # queued but never picked up: enqueued again
    orphans_deleted: list[str] = field(default_factory=list)
    unsaved_deleted: list[int] = field(default_factory=list)  # image-modal images never saved, past their day
    previews_deleted: list[str] = field(default_factory=list)  # live previews no running attempt owns

    @property
    def changed_anything(self) -> bool:
        return any((self.requeued, self.fell_back, self.worker_lost, self.reenqueued, self.orphans_deleted,
                    self.unsaved_deleted, self.previews_deleted))

    def __str__(self) -> str:
        return (
            f"requeued {len(self.requeued)} expired lease(s), moved {len(self.fell_back)} to their fallback profile, "
            f"failed {len(self.worker_lost)} as worker_lost, re-enqueued {len(self.reenqueued)} lost job(s), "
            f"deleted {len(self.unsaved_deleted)} unsaved modal image(s), {len(self.previews_deleted)} stale "
            f"preview(s) and {len(self.orphans_deleted)} orphan file(s)"
        )


def sweep(*, now: datetime | None = None, files: bool = True) -> SweepReport:
    """Recover lost work once. Safe to run concurrently with workers and with other sweepers."""
    from .fallback import continue_lost_on_fallback
    from .services import enqueue_generation

    now = now or timezone.now()
    report = SweepReport()

    expired = Generation.objects.filter(status=Generation.Status.RUNNING, lease_until__lt=now)
    for generation in expired.select_related("profile"):
        # The row as we read it: if a worker finished, or another sweeper got here first, this matches nothing.
        same = Generation.objects.filter(
            pk=generation.pk, status=Generation.Status.RUNNING, attempts=generation.attempts,
            lease_until=generation.lease_until,
        )
        # The dead worker's live preview ends with its attempt: cleared in the same update, its file deleted by the
        # sweeper that won (anything a half-dead worker still writes is prune_stale's).
        no_preview = {"progress": None, "preview": ""}
        # Per profile: after a fallback, attempts keeps counting but the fallback has its own MAX_ATTEMPTS.
        if generation.attempts_on_profile < MAX_ATTEMPTS:
            if same.update(
                status=Generation.Status.QUEUED, lease_until=None, next_attempt_at=now, **no_preview,
                error_code="worker_lost", error_message="The worker stopped while making this image; trying again.",
            ):
                report.requeued.append(generation.pk)
                previews.delete_file(generation.preview)
                enqueue_generation(generation.pk)
            continue
        # The profile's last attempt: like any provider-side failure after its retries, the job continues on the
        # profile's fallback (same rules, same card note: images/fallback.py), fenced by the lease we read.
        moved = continue_lost_on_fallback(generation, lease_until=generation.lease_until)
        if moved:
            report.fell_back.append(generation.pk)
            previews.delete_file(generation.preview)
        elif moved is None and same.update(
            status=Generation.Status.FAILED, lease_until=None, finished_at=now, **no_preview,
            error_code="worker_lost", error_message="The worker stopped while making this image.",
        ):
            report.worker_lost.append(generation.pk)
            previews.delete_file(generation.preview)

    lost_before = now - timedelta(seconds=settings.IMAGEGEN_QUEUED_GRACE_S)
    stale = Generation.objects.filter(status=Generation.Status.QUEUED).filter(
        Q(next_attempt_at__isnull=True, queued_at__lt=lost_before) | Q(next_attempt_at__lt=lost_before)
    )
    for pk, due in stale.values_list("pk", "next_attempt_at"):
        if _has_waiting_task(pk):
            continue  # enqueued and waiting for a free worker: not lost, just busy
        # Bumping next_attempt_at is the claim: one sweeper re-enqueues, and not again before another grace period.
        if Generation.objects.filter(pk=pk, status=Generation.Status.QUEUED, next_attempt_at=due).update(
            next_attempt_at=now
        ):
            report.reenqueued.append(pk)
            enqueue_generation(pk)

    # Rows first: their files are then unreferenced, and the orphan pass below deletes them (when no other image has
    # the same bytes) once they are older than IMAGEGEN_ORPHAN_FILE_AGE_S, a day by default like the unsaved TTL.
    report.unsaved_deleted = prune_unsaved_images(now=now)
    report.previews_deleted = previews.prune_stale(older_than=now - lease_duration(), files=files)
    if files:
        report.orphans_deleted = delete_orphan_files(now=now)
    if report.changed_anything:
        logger.warning("sweeper: %s", report)
    return report


def _has_waiting_task(generation_id: int) -> bool:
    """Whether the queue (database or RQ) holds a not-yet-run task for this job. Other backends can't be asked: False."""
    backend = settings.TASKS["default"]["BACKEND"]
    if backend.startswith("django_tasks_rq"):
        return generation_id in _rq_waiting_generation_ids()
    if not backend.startswith("django_tasks_db"):
        return False
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(
        status="READY", task_path="images.tasks.run_generation", args_kwargs__args__0=generation_id
    ).exists()


def _rq_waiting_generation_ids() -> set[int]:
    """Generation ids with a run_generation job waiting in RQ: queued, or scheduled for later (a retry's backoff)."""
    import django_rq
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry

    queue = django_rq.get_queue("default")
    job_ids = [*queue.get_job_ids(), *ScheduledJobRegistry(queue=queue).get_job_ids()]
    return {
        job.args[0]
        for job in Job.fetch_many(job_ids, connection=queue.connection)
        if job is not None and job.func_name == "images.tasks.run_generation" and job.args
    }


# --- files ------------------------------------------------------------------------------------------------------


def stored_files() -> list[str]:
    """Every image and thumbnail name under images/, in both layouts (images/storage.py): the sharded
    images/<owner>/<xx>/<sha256>.<ext> and images/<owner>/thumbs/<xx>/… as well as the older images/<owner>/img_…"""
    return list(storage.walk("images"))


def unreferenced_files(*, older_than: datetime) -> list[str]:
    from .masks import referenced_masks  # masks → services → jobs: imported when used

    referenced = set(GeneratedImage.objects.values_list("file", flat=True))
    referenced |= set(GeneratedImage.objects.values_list("thumbnail", flat=True))
    referenced |= referenced_masks()
    # A running job may be about to commit rows naming a file that already existed (content addressing reuses it).
    busy_owners = {
        str(owner) for owner in Generation.objects.filter(status=Generation.Status.RUNNING).values_list("owner_id", flat=True)
    }
    found = []
    for name in stored_files():
        if name in referenced or name.split("/")[1] in busy_owners:
            continue
        try:
            if default_storage.get_modified_time(name) < older_than:
                found.append(name)
        except FileNotFoundError:
            continue  # another sweeper deleted it meanwhile
    return found


def prune_unsaved_images(*, now: datetime | None = None) -> list[int]:
    """Delete image-modal images nobody saved within IMAGEGEN_UNSAVED_IMAGE_TTL_S (images/modal_images.py). Only
    the rows: the generation stays (usage and cost), and the files are left to the orphan pass. A save that races
    this finds nothing to save (404), never a row without its file."""
    now = now or timezone.now()
    expired = GeneratedImage.objects.filter(
        in_gallery=False, created__lt=now - timedelta(seconds=settings.IMAGEGEN_UNSAVED_IMAGE_TTL_S)
    )
    with transaction.atomic():  # locked rows: a concurrent save waits, then finds them gone (never half-deleted)
        ids = list(expired.select_for_update().values_list("pk", flat=True)[:1000])  # the next sweep takes the rest
        if ids:
            GeneratedImage.objects.filter(pk__in=ids).delete()
    return ids


def delete_orphan_files(*, now: datetime | None = None) -> list[str]:
    now = now or timezone.now()
    orphans = unreferenced_files(older_than=now - timedelta(seconds=settings.IMAGEGEN_ORPHAN_FILE_AGE_S))
    for name in orphans:
        default_storage.delete(name)  # deleting a missing file is not an error
    return orphans


# --- invariants (T50) -------------------------------------------------------------------------------------------


def find_violations(*, now: datetime | None = None) -> list[str]:
    """What `manage.py check_jobs` reports: every job terminal or leased, every success has its files, no ended job
    keeps a live preview."""
    now = now or timezone.now()
    problems = []
    for pk in Generation.objects.filter(status=Generation.Status.RUNNING).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    ).values_list("pk", flat=True):
        problems.append(f"generation {pk} is running past its lease")
    for pk in Generation.objects.exclude(preview="").exclude(
        status__in=[Generation.Status.QUEUED, Generation.Status.RUNNING]
    ).values_list("pk", flat=True):
        problems.append(f"generation {pk} has ended but still names a live preview")
    # (An image-modal generation whose unsaved images were pruned has none left, by design.)
    for pk in Generation.objects.filter(status=Generation.Status.SUCCEEDED, images__isnull=True, modal=False).values_list(
        "pk", flat=True
    ):
        problems.append(f"generation {pk} succeeded with no image")
    for pk, file, thumbnail in GeneratedImage.objects.values_list("pk", "file", "thumbnail"):
        for name in (file, thumbnail):
            if not default_storage.exists(name):
                problems.append(f"image {pk} refers to a missing file {name}")
    older_than = now - timedelta(seconds=settings.IMAGEGEN_ORPHAN_FILE_AGE_S)
    for name in unreferenced_files(older_than=older_than):
        problems.append(f"file {name} is referenced by no image and older than the orphan age")
    return problems
