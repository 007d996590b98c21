"""`manage.py list_generations [--status failed] [--user NAME] [--since 1d]`: recent generations, newest first."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from images.models import Generation
from ops.durations import parse_span


class Command(BaseCommand):
    help = "List generations (without prompts unless --show-prompt: they are user data)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--status", choices=Generation.Status.values)
        parser.add_argument("--user", help="user name")
        parser.add_argument("--provider")
        parser.add_argument("--since", help="only those queued within this span, e.g. 1h, 7d")
        parser.add_argument("--limit", type=int, default=50)
        parser.add_argument("--show-prompt", action="store_true")

    def handle(self, *args, status, user, provider, since, limit, show_prompt, **options) -> None:
        rows = Generation.objects.select_related("owner").order_by("-queued_at")
        if status:
            rows = rows.filter(status=status)
        if user:
            rows = rows.filter(owner__username=user)
        if provider:
            rows = rows.filter(provider=provider)
        if since:
            try:
                rows = rows.filter(queued_at__gte=timezone.now() - parse_span(since))
            except ValueError as e:
                raise CommandError(str(e)) from e
        header = f"{'id':>7}  {'queued (UTC)':16}  {'user':12}  {'provider':10}  {'status':9}  {'att':>3}  {'secs':>6}  error"
        self.stdout.write(header)
        shown = 0
        for g in rows[:limit]:
            seconds = f"{g.duration.total_seconds():.1f}" if g.duration else "-"
            line = (
                f"{g.pk:>7}  {g.queued_at:%Y-%m-%d %H:%M}  {g.owner.username[:12]:12}  {g.provider[:10]:10}  "
                f"{g.status:9}  {g.attempts:>3}  {seconds:>6}  {g.error_code}"
            )
            if show_prompt:
                line += f"  {g.prompt[:60]!r}"
            self.stdout.write(line)
            shown += 1
        self.stdout.write(f"{shown} shown" + (f" (of {rows.count()}; --limit for more)" if shown == limit else ""))
