"""`manage.py retry_failed --since 1h`: start a new attempt of every generation that failed in that span.

For after an outage: a provider was down, a key expired and was replaced. Each retry is a new generation on the
same chat message (as the Retry button does); the failed one stays in history.
"""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from images.models import Generation
from images.services import GenerationRequestError, generation_retry
from ops.durations import parse_span


class Command(BaseCommand):
    help = "Retry generations that failed within --since (e.g. 1h, 2d)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--since", required=True, help="failed within this span, e.g. 30m, 1h, 2d")
        parser.add_argument("--provider")
        parser.add_argument("--code", help="only this error code, e.g. provider_unavailable")
        parser.add_argument("--user", help="user name")
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, since, provider, code, user, dry_run, **options) -> None:
        try:
            cutoff = timezone.now() - parse_span(since)
        except ValueError as e:
            raise CommandError(str(e)) from e
        failed = Generation.objects.filter(status=Generation.Status.FAILED, finished_at__gte=cutoff)
        # Retried already: marked by generation_retry (any generation), or, for rows older than that mark, a chat
        # generation that gave its message to the new attempt.
        failed = failed.exclude(parameters__has_key="retried").exclude(chat__isnull=False, message__isnull=True)
        if provider:
            failed = failed.filter(provider=provider)
        if code:
            failed = failed.filter(error_code=code)
        if user:
            failed = failed.filter(owner__username=user)
        retried = 0
        for generation in failed.select_related("owner", "chat", "message", "profile").order_by("finished_at"):
            if dry_run:
                self.stdout.write(f"would retry {generation.pk} ({generation.provider}, {generation.error_code})")
                continue
            try:
                new = generation_retry(generation=generation)
            except GenerationRequestError as e:  # e.g. the profile's provider no longer accepts these options
                self.stderr.write(f"{generation.pk}: not retried: {e.message}")
                continue
            self.stdout.write(f"retried {generation.pk} as {new.pk}")
            retried += 1
        self.stdout.write(self.style.SUCCESS(f"{retried} generation(s) retried." if not dry_run else "dry run: nothing changed."))
