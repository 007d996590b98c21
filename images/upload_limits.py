"""Imports fetch from the network on the user's behalf: a per-user limit (the generation rate, its own counter)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage
from rest_framework import exceptions

from imagegen_site.ratelimits import RateLimited


def check_import_rate(request: HttpRequest) -> None:
    usage = get_usage(request, group="import", key=lambda group, r: f"user:{r.user.pk}",
                      rate=settings.IMAGEGEN_GENERATE_RATE, increment=True)
    if usage is not None and usage["should_limit"]:
        raise RateLimited(usage["time_left"])


def check_import_rate_api(request) -> None:
    try:
        check_import_rate(request)
    except RateLimited as e:
        raise exceptions.Throttled(wait=e.retry_after, detail=f"Too many imports. Try again in {e.retry_after} s.") \
            from None
