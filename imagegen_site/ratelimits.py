"""Per-user limits on starting generations, and per-address limits on failed logins (SECURITY.md T31–T34).

Counters are django-ratelimit's, in the shared "ratelimit" cache. Users are keyed by id, never by a header; the
login limit is keyed on REMOTE_ADDR (django-ratelimit's default), so a client rotating X-Forwarded-For does not
get fresh counters. Behind a proxy, set RATELIMIT_IP_META_KEY to the header the proxy overwrites.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest
from django_ratelimit import ALL
# Its window and key functions (private, pinned in requirements.txt): count_usage must hit the very counter get_usage
# reads (tests/test_ratelimit_counter.py checks that they agree).
from django_ratelimit.core import (
    _SIMPLE_KEYS, EXPIRATION_FUDGE, _get_window, _make_cache_key, _split_rate, get_usage,
)
from rest_framework import exceptions


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("rate limited")
        self.retry_after = max(1, retry_after)

    @property
    def detail(self) -> str:
        return f"Too many image requests. Try again in {self.retry_after} s."


def _user_key(group: str, request: HttpRequest) -> str:
    return f"user:{request.user.pk}"


def count_usage(request: HttpRequest, *, group: str, key, rate: str) -> dict | None:
    """get_usage(..., increment=True): the same counter (key, window, limit), in one statement on the embedded
    default's cache (AtomicDatabaseCache.hit) instead of an add() and an incr(); elsewhere (Redis) get_usage itself."""
    cache = caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")]
    simple = callable(key) or key in _SIMPLE_KEYS  # a function, "ip" (the proxy-aware address) or "user"…
    if not getattr(settings, "RATELIMIT_ENABLE", True) or not hasattr(cache, "hit") or not simple:
        return get_usage(request, group=group, key=key, rate=rate, increment=True)
    limit, period = _split_rate(rate)
    value = key(group, request) if callable(key) else _SIMPLE_KEYS[key](request)
    window = _get_window(value, period)
    count = cache.hit(_make_cache_key(group, window, rate, value, ALL), period + EXPIRATION_FUDGE)
    if count is None:  # the row is not a counter this statement can add to: django-ratelimit's own two calls
        return get_usage(request, group=group, key=key, rate=rate, increment=True)
    return {"count": count, "limit": limit, "should_limit": count > limit, "time_left": window - int(time.time())}


def check_generate_rate(request: HttpRequest) -> None:
    """Count one generation start for this user; raise RateLimited past IMAGEGEN_GENERATE_RATE."""
    usage = count_usage(request, group="generate", key=_user_key, rate=settings.IMAGEGEN_GENERATE_RATE)
    if usage is not None and usage["should_limit"]:
        raise RateLimited(usage["time_left"])


def check_generate_rate_api(request: HttpRequest) -> None:
    """The same limit for DRF views: a 429 {"code": "rate_limited"} with Retry-After (api_errors)."""
    try:
        check_generate_rate(request)
    except RateLimited as e:
        raise exceptions.Throttled(wait=e.retry_after, detail=e.detail) from None


def check_key_check_rate(request: HttpRequest) -> int | None:
    """Count one API key check / "test connection" for this user: each is an outbound call to an address the user
    may choose, so IMAGEGEN_KEY_CHECK_RATE (10 an hour) bounds probing (T22). Seconds to wait when over, else None."""
    usage = count_usage(request, group="key-check", key=_user_key, rate=settings.IMAGEGEN_KEY_CHECK_RATE)
    if usage is not None and usage["should_limit"]:
        return max(1, usage["time_left"])
    return None


def check_key_check_rate_api(request: HttpRequest, *, what: str = "key checks") -> None:
    """The same limit for DRF views (also listing a server's models at an address the user chose)."""
    if (wait := check_key_check_rate(request)) is not None:
        raise exceptions.Throttled(wait=wait, detail=f"Too many {what}. Try again in {wait} s.")


def csp_report_limited(request: HttpRequest) -> int | None:
    """Count one CSP violation report from this address (anyone may post one, so not per user); seconds to wait
    when over IMAGEGEN_CSP_REPORT_RATE, else None."""
    usage = count_usage(request, group="csp-report", key="ip", rate=settings.IMAGEGEN_CSP_REPORT_RATE)
    if usage is not None and usage["should_limit"]:
        return max(1, usage["time_left"])
    return None


def login_attempts_exceeded(request: HttpRequest) -> int | None:
    """Seconds to wait when this address already failed too many logins, else None (does not count)."""
    usage = get_usage(request, group="login-failed", key="ip", rate=settings.IMAGEGEN_LOGIN_RATE, increment=False)
    if usage is not None and usage["count"] >= usage["limit"]:
        return max(1, usage["time_left"])
    return None


def count_failed_login(request: HttpRequest) -> None:
    count_usage(request, group="login-failed", key="ip", rate=settings.IMAGEGEN_LOGIN_RATE)


def starts_generation(content: str) -> bool:
    """Whether posting this chat message would start a generation (so it counts toward the limit)."""
    from chats.commands import CommandError, parse_message

    try:
        command = parse_message(content or "")
    except CommandError:
        return False  # answered with an error card; nothing is generated
    if command is None:  # "draw me a lighthouse" starts one too (chats/intent.py), when no tool model decides
        from chats.intent import image_request

        return image_request(content or "") is not None
    return command.action in ("generate", "edit")
