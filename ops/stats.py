"""Numbers about the whole instance, read from the database: the same answers for /readyz, /metrics and the
dashboard, whichever process (web or worker) is asked."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from images.models import Generation

# Upper bounds (seconds) of the generation duration histogram.
DURATION_BUCKETS = (1, 2.5, 5, 10, 20, 30, 60, 120, 300)


def uses_db_workers() -> bool:
    return settings.TASKS["default"]["BACKEND"].startswith("django_tasks_db")


def queue_depth() -> dict[str, int]:
    """Generations waiting or running (the row is the truth), and task-queue jobs ready to run."""
    counts = dict(
        Generation.objects.pending().values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    depth = {"queued": counts.get("queued", 0), "running": counts.get("running", 0)}
    if uses_db_workers():
        from django_tasks_db.models import DBTaskResult

        depth["tasks_ready"] = DBTaskResult.objects.ready().count()
    return depth


def generations_by_provider_status() -> list[dict]:
    return list(Generation.objects.values("provider", "status").annotate(n=Count("pk")).order_by("provider", "status"))


def provider_errors() -> list[dict]:
    return list(
        Generation.objects.exclude(error_code="")
        .values("provider", "error_code")
        .annotate(n=Count("pk"))
        .order_by("provider", "error_code")
    )


def retries_by_provider() -> list[dict]:
    """Attempts beyond the first, per provider: each one is a retry the queue made."""
    return list(
        Generation.objects.filter(attempts__gt=1)
        .values("provider")
        .annotate(n=Sum(F("attempts") - 1))
        .order_by("provider")
    )


def duration_histogram() -> dict[str, dict]:
    """Cumulative bucket counts and sums of finished generations' durations, per provider (one query)."""
    duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    finished = Generation.objects.filter(
        status__in=[Generation.Status.SUCCEEDED, Generation.Status.FAILED],
        started_at__isnull=False,
        finished_at__isnull=False,
    ).annotate(duration=duration)
    aggregates = {
        f"le_{i}": Count("pk", filter=Q(duration__lte=timedelta(seconds=bound)))
        for i, bound in enumerate(DURATION_BUCKETS)
    }
    rows = finished.values("provider").annotate(count=Count("pk"), total=Sum("duration"), **aggregates)
    result = {}
    for row in rows:
        total = row["total"]
        result[row["provider"]] = {
            "buckets": [(bound, row[f"le_{i}"]) for i, bound in enumerate(DURATION_BUCKETS)],
            "count": row["count"],
            "sum_s": total.total_seconds() if total is not None else 0.0,
        }
    return result


def per_day_by_provider(days: int = 14) -> list[dict]:
    since = timezone.now() - timedelta(days=days)
    return list(
        Generation.objects.filter(queued_at__gte=since)
        .annotate(day=TruncDate("queued_at"))
        .values("day", "provider")
        .annotate(
            total=Count("pk"),
            failed=Count("pk", filter=Q(status=Generation.Status.FAILED)),
            succeeded=Count("pk", filter=Q(status=Generation.Status.SUCCEEDED)),
        )
        .order_by("-day", "provider")
    )


def failure_rate(days: int = 7) -> dict:
    since = timezone.now() - timedelta(days=days)
    finished = Generation.objects.filter(
        queued_at__gte=since, status__in=[Generation.Status.SUCCEEDED, Generation.Status.FAILED]
    ).aggregate(total=Count("pk"), failed=Count("pk", filter=Q(status=Generation.Status.FAILED)))
    total, failed = finished["total"], finished["failed"]
    return {"days": days, "finished": total, "failed": failed, "rate": (failed / total) if total else 0.0}


def top_users_by_cost(limit: int = 10, days: int = 30) -> list[dict]:
    since = timezone.now() - timedelta(days=days)
    return list(
        Generation.objects.filter(queued_at__gte=since, estimated_cost_usd__isnull=False)
        .values("owner_id", "owner__username")
        .annotate(cost=Sum("estimated_cost_usd"), generations=Count("pk"))
        .order_by("-cost")[:limit]
    )
