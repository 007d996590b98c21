"""`manage.py prune --older-than 90d`: old task results, canceled generations, expired exports, dead heartbeats.

Never images: a canceled generation is only removed when it has none, and image rows and files are not touched.
"""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from images.models import Generation
from ops import heartbeat
from ops.accounts import prune_expired_exports
from ops.durations import parse_span
from ops.stats import uses_db_workers


class Command(BaseCommand):
    help = "Delete finished task results and canceled generations older than --older-than (e.g. 90d)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--older-than", required=True, help="e.g. 30d, 90d, 12w")
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, older_than: str, dry_run: bool, **options) -> None:
        try:
            cutoff = timezone.now() - parse_span(older_than)
        except ValueError as e:
            raise CommandError(str(e)) from e
        canceled = Generation.objects.filter(
            status=Generation.Status.CANCELED, queued_at__lt=cutoff, images__isnull=True
        )
        results = None
        if uses_db_workers():
            from django_tasks_db.models import DBTaskResult

            results = DBTaskResult.objects.finished().filter(finished_at__lt=cutoff)
        if dry_run:
            self.stdout.write(f"would delete {canceled.count()} canceled generations"
                              + (f" and {results.count()} task results" if results is not None else ""))
            return
        n_canceled = canceled.delete()[0]
        n_results = results.delete()[0] if results is not None else 0
        n_exports = prune_expired_exports()
        n_workers = heartbeat.prune_dead()
        self.stdout.write(self.style.SUCCESS(
            f"deleted {n_canceled} canceled generations, {n_results} task results, {n_exports} expired exports, "
            f"{n_workers} stale worker heartbeats"
        ))
