"""The cost ledger read back: what a user spent this month, per day and per provider/profile, and the monthly cap.

Spend is the sum of Generation.estimated_cost_usd (images/pricing.py fills it when a generation finishes, and for
a failed or canceled one whatever the provider billed: an answer whose images were refused) by the month the
generation was requested (queued_at), in settings.TIME_ZONE. The cap also counts queued and running
generations at their table price, so a burst of requests cannot slip past it before any of them finishes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from .models import SOURCE_PROVIDER_LABELS, GeneratedImage, Generation, UsageLimit
from .providers import PROVIDERS
from .pricing import estimate_pending, is_free
from .services import GenerationRequestError  # services imports this module inside generation_start

ZERO = Decimal("0")


def month_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The start of this calendar month and of the next, as aware datetimes in the site's time zone."""
    local = timezone.localtime(now or timezone.now())
    first = date(local.year, local.month, 1)
    following = date(local.year + local.month // 12, local.month % 12 + 1, 1)
    zone = timezone.get_current_timezone()
    return (timezone.make_aware(datetime.combine(first, time()), zone),
            timezone.make_aware(datetime.combine(following, time()), zone))


def month_generations(owner, now: datetime | None = None) -> QuerySet:
    start, end = month_bounds(now)
    return Generation.objects.filter(owner=owner, queued_at__gte=start, queued_at__lt=end)


# The cap -------------------------------------------------------------------------------------------------------


def site_cap() -> Decimal | None:
    raw = settings.IMAGEGEN_MONTHLY_CAP_USD
    if raw in (None, ""):
        return None
    try:
        cap = Decimal(str(raw))
    except InvalidOperation:
        raise ImproperlyConfigured(f"IMAGEGEN_MONTHLY_CAP_USD must be a number of dollars, not {raw!r}.") from None
    if cap < 0:
        raise ImproperlyConfigured("IMAGEGEN_MONTHLY_CAP_USD cannot be negative.")
    return cap


def cap_for(owner) -> Decimal | None:
    """The owner's monthly cap in USD, or None for no cap: the admin's override first, else the site default."""
    return effective_cap(UsageLimit.objects.filter(owner_id=owner.pk).first())


def effective_cap(limit: UsageLimit | None) -> Decimal | None:
    if limit is not None:
        if limit.unlimited:
            return None
        if limit.monthly_cap_usd is not None:
            return limit.monthly_cap_usd
    return site_cap()


def committed_spend(owner, now: datetime | None = None) -> Decimal:
    """This month's recorded cost plus the table estimate of what is still queued or running."""
    generations = month_generations(owner, now)
    recorded = generations.aggregate(total=Sum("estimated_cost_usd"))["total"] or ZERO
    pending = generations.pending().filter(estimated_cost_usd__isnull=True).values_list(
        "provider", "model", "parameters")[:500]  # a bound: the rate limit keeps real queues far below it
    return recorded + sum((estimate_pending(provider=p, model=m, parameters=params) for p, m, params in pending), ZERO)


class QuotaExceeded(GenerationRequestError):
    """This month's spend reached the owner's cap. generation_start raises it before anything is queued."""

    def __init__(self, *, spent: Decimal, cap: Decimal, resets_at: datetime) -> None:
        self.spent, self.cap, self.resets_at = spent, cap, resets_at
        local = timezone.localtime(resets_at)
        super().__init__(
            f"You have reached your monthly image budget: ${spent:.2f} spent of ${cap:.2f}. New images from paid "
            f"providers are paused until {local.day} {local:%B %Y} ({timezone.get_current_timezone_name()}). The offline "
            "renderer still works; an operator can raise your limit.",
            code="quota_exceeded",
        )

    @property
    def retry_after_s(self) -> int:
        return max(1, int((self.resets_at - timezone.now()).total_seconds()))


def check_quota(owner, provider: str, now: datetime | None = None) -> None:
    """Raise QuotaExceeded when the owner's committed spend has reached the cap. Free providers always pass."""
    if is_free(provider):
        return
    cap = cap_for(owner)
    if cap is None:
        return
    spent = committed_spend(owner, now)
    if spent >= cap:
        raise QuotaExceeded(spent=spent, cap=cap, resets_at=month_bounds(now)[1])


def seconds_until_reset(now: datetime | None = None) -> int:
    return max(1, int((month_bounds(now)[1] - (now or timezone.now())).total_seconds()))


# The daily image limit (issue 4) ---------------------------------------------------------------------------------
# Images, not dollars, and every provider counts (the offline renderer too: it is this server's CPU). A day runs
# from midnight to midnight in settings.TIME_ZONE (UTC unless the operator sets TIME_ZONE), like the month above.

COUNTED_STATUSES = (Generation.Status.QUEUED, Generation.Status.RUNNING, Generation.Status.SUCCEEDED)


def day_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """Today's midnight and tomorrow's, as aware datetimes in the site's time zone (DST-safe: built from dates)."""
    today = timezone.localtime(now or timezone.now()).date()
    zone = timezone.get_current_timezone()
    return (timezone.make_aware(datetime.combine(today, time()), zone),
            timezone.make_aware(datetime.combine(today + timedelta(days=1), time()), zone))


def daily_image_limit_for(owner) -> int:
    """The owner's images per day; 0 means no limit. The admin's per-user value first, else the site setting."""
    # One row at most (a one-to-one): a slice, not first(), which would add an ORDER BY to a query made on every post.
    own = next(iter(UsageLimit.objects.filter(owner_id=owner.pk).values_list("daily_image_limit", flat=True)[:1]), None)
    return settings.IMAGEGEN_DAILY_IMAGE_LIMIT if own is None else own


def images_today(owner, now: datetime | None = None) -> int:
    """Images asked for today (each generation's n) by generations that are queued, running or succeeded: a
    failed or canceled one gives its images back. Uploads and imports are not generated and do not count."""
    start, end = day_bounds(now)
    counted = Generation.objects.filter(owner=owner, queued_at__gte=start, queued_at__lt=end,
                                        status__in=COUNTED_STATUSES).exclude(provider__in=SOURCE_PROVIDER_LABELS)
    return sum(n if isinstance(n, int) and n > 0 else 1 for n in counted.values_list("parameters__n", flat=True))


class DailyLimitReached(GenerationRequestError):
    """Today's images reached the owner's daily limit. generation_start raises it before anything is queued."""

    def __init__(self, *, used: int, requested: int, limit: int, resets_at: datetime) -> None:
        self.used, self.limit, self.resets_at = used, limit, resets_at
        local = timezone.localtime(resets_at)
        left = max(0, limit - used)
        asked = f"; this request asks for {requested}, and {left} {'is' if left == 1 else 'are'} left" if left else ""
        super().__init__(
            f"You have reached your daily limit of {limit} image{'s' if limit != 1 else ''}: {used} made or in "
            f"progress today{asked}. It resets at midnight, {local:%H:%M} on {local.day} {local:%B} "
            f"({timezone.get_current_timezone_name()}).",
            code="quota_exceeded",
        )

    @property
    def retry_after_s(self) -> int:
        return max(1, int((self.resets_at - timezone.now()).total_seconds()))


def check_daily_limit(owner, requested: int = 1, now: datetime | None = None) -> None:
    """Raise DailyLimitReached when `requested` more images would pass the owner's daily limit (0 = off).
    generation_start calls it inside the transaction that locks the owner's row, so concurrent requests of one
    user are counted one after the other."""
    limit = daily_image_limit_for(owner)
    if not limit:
        return
    used = images_today(owner, now)
    if used + requested > limit:
        raise DailyLimitReached(used=used, requested=requested, limit=limit, resets_at=day_bounds(now)[1])


# The Usage page ------------------------------------------------------------------------------------------------


@dataclass
class UsageSummary:
    month_start: date
    resets_at: datetime
    total_usd: Decimal
    generations: int
    images: int
    unpriced: int  # generations whose cost is unknown (a model the price table does not know)
    pending_usd: Decimal
    cap_usd: Decimal | None
    days: list[dict] = field(default_factory=list)
    providers: list[dict] = field(default_factory=list)
    profiles: list[dict] = field(default_factory=list)

    @property
    def cap_percent(self) -> int | None:
        if self.cap_usd is None:
            return None
        if self.cap_usd == 0:
            return 100
        return min(100, int((self.total_usd + self.pending_usd) * 100 / self.cap_usd))

    @property
    def remaining_usd(self) -> Decimal | None:
        return None if self.cap_usd is None else max(ZERO, self.cap_usd - self.total_usd - self.pending_usd)


def _rows(generations: QuerySet, *group: str) -> list[dict]:
    """Cost and counts per `group`. Images are counted in a query of their own: joining them into the cost query
    would add a generation's cost once per image."""
    rows = list(
        generations.values(*group)
        .annotate(
            cost=Sum("estimated_cost_usd"),
            generations=Count("pk"),
            succeeded=Count("pk", filter=Q(status=Generation.Status.SUCCEEDED)),
        )
        .order_by(*group)
    )
    image_counts = {
        tuple(r[g] for g in group): r["n"]
        for r in generations.filter(images__isnull=False).values(*group).annotate(n=Count("images")).order_by()
    }
    for row in rows:
        row["images"] = image_counts.get(tuple(row[g] for g in group), 0)
    return rows


def month_summary(owner, now: datetime | None = None) -> UsageSummary:
    """This month for one user: totals, one row per day with activity, per provider, per profile (a fixed
    number of queries, whatever the number of generations)."""
    start, end = month_bounds(now)
    generations = month_generations(owner, now)
    head = generations.aggregate(
        total=Sum("estimated_cost_usd"), n=Count("pk"),
        unpriced=Count("pk", filter=Q(status=Generation.Status.SUCCEEDED, estimated_cost_usd__isnull=True)),
    )
    head["images"] = GeneratedImage.objects.filter(generation__in=generations).count()
    days = _rows(generations.annotate(day=TruncDate("queued_at", tzinfo=timezone.get_current_timezone())), "day")
    providers = _rows(generations, "provider", "model")
    profiles = _rows(generations, "profile", "profile__name")
    for row in providers:
        row["provider_label"] = PROVIDERS[row["provider"]][0] if row["provider"] in PROVIDERS else row["provider"]
    for row in profiles:
        # No profile: the offline renderer, or a profile deleted since (the row keeps its provider, not the link).
        row["label"] = row["profile__name"] or "No profile (offline renderer or a deleted profile)"
    total = head["total"] or ZERO
    return UsageSummary(
        month_start=timezone.localtime(start).date(),
        resets_at=end,
        total_usd=total,
        generations=head["n"],
        images=head["images"],
        unpriced=head["unpriced"],
        pending_usd=committed_spend(owner, now) - total,
        cap_usd=cap_for(owner),
        days=sorted(days, key=lambda r: r["day"], reverse=True),
        providers=sorted(providers, key=lambda r: (-(r["cost"] or ZERO), r["provider"], r["model"])),
        profiles=sorted(profiles, key=lambda r: (-(r["cost"] or ZERO), r["label"])),
    )


def usage_per_user(users: QuerySet, now: datetime | None = None) -> QuerySet:
    """Annotate users with this month's and all-time spend and generation counts (the admin's changelist)."""
    start, end = month_bounds(now)
    this_month = Q(generations__queued_at__gte=start, generations__queued_at__lt=end)
    return users.annotate(
        month_cost=Sum("generations__estimated_cost_usd", filter=this_month),
        month_generations=Count("generations", filter=this_month),
        total_cost=Sum("generations__estimated_cost_usd"),
        total_generations=Count("generations"),
    )
