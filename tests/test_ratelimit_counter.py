"""AtomicDatabaseCache's add() and incr(), the two calls django-ratelimit makes per counted request."""

import time

import pytest
from django.core.cache import caches

pytestmark = pytest.mark.django_db


@pytest.fixture
def counters(settings):
    cache = caches["ratelimit"]
    if type(cache).__name__ != "AtomicDatabaseCache":
        pytest.skip("the ratelimit cache is Redis on this run (REDIS_URL); AtomicDatabaseCache is the embedded default")
    return cache


def test_add_keeps_a_live_counter_and_incr_counts(counters):
    assert counters.add("k", 1, 60) is True
    assert counters.add("k", 1, 60) is False  # live: untouched
    assert counters.incr("k") == 2
    assert counters.incr("k", 3) == 5
    assert counters.get("k") == 5


def test_an_expired_counter_starts_again_and_expired_rows_are_dropped(counters):
    assert counters.add("old", 7, 1)
    assert counters.add("other", 1, 1)
    time.sleep(2.1)  # expiry has a one-second resolution
    with pytest.raises(ValueError):
        counters.incr("old")
    assert counters.add("old", 1, 60) is True  # replaces the expired row
    assert counters.get("old") == 1
    assert counters.get("other") is None
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM imagegen_ratelimit")
        assert cursor.fetchone()[0] == 1  # "other" was deleted when "old" started again


def test_incr_of_a_missing_key_raises(counters):
    with pytest.raises(ValueError):
        counters.incr("missing")


def test_incr_keeps_the_window(counters):
    counters.add("w", 1, 1)
    counters.incr("w")
    time.sleep(2.1)
    assert counters.get("w") is None  # the window did not grow with the hit


def test_hit_is_add_then_incr_in_one_statement(counters, django_assert_num_queries):
    with django_assert_num_queries(2):  # a new counter: the upsert, and the sweep of rows that ran out
        assert counters.hit("h", 60) == 1
    with django_assert_num_queries(1):
        assert counters.hit("h", 60) == 2
    assert counters.hit("h", 60, delta=3) == 5
    assert counters.get("h") == 5 and counters.incr("h") == 6  # the same counter through the other calls


def test_hit_starts_an_expired_counter_again_and_keeps_a_live_ones_window(counters):
    assert counters.hit("old", 1) == 1
    counters.add("other", 1, 1)
    time.sleep(2.1)
    assert counters.hit("old", 60) == 1  # expired: a new window, not 2
    assert counters.get("other") is None
    counters.hit("w", 1)
    counters.hit("w", 60)  # a hit does not stretch the window it counts in
    time.sleep(2.1)
    assert counters.get("w") is None


def test_a_live_row_that_is_not_a_counter_is_left_to_the_two_call_path(counters):
    counters.set("pickled", 7, 60)  # Django's set() pickles: SQL cannot add to it
    assert counters.hit("pickled", 60) is None
    assert counters.get("pickled") == 7
    assert counters.incr("pickled") == 8  # incr's locked read-modify-write path


def test_count_usage_counts_on_the_counter_django_ratelimit_reads(counters, rf, alice, monkeypatch):
    from django_ratelimit.core import _get_window, get_usage

    from imagegen_site.ratelimits import _user_key, count_usage

    request = rf.post("/")
    request.user = alice
    # The middle of the user's current window, so no window ends between the calls below.
    mid = _get_window(_user_key("generate", request), 60) - 30
    monkeypatch.setattr(time, "time", lambda: mid)
    for expected in (1, 2):
        usage = count_usage(request, group="generate", key=_user_key, rate="3/m")
        assert (usage["count"], usage["limit"], usage["should_limit"]) == (expected, 3, False)
    assert get_usage(request, group="generate", key=_user_key, rate="3/m")["count"] == 2
    assert get_usage(request, group="generate", key=_user_key, rate="3/m", increment=True)["count"] == 3
    usage = count_usage(request, group="generate", key=_user_key, rate="3/m")
    assert usage["count"] == 4 and usage["should_limit"] and usage["time_left"] == 30
    request.META["REMOTE_ADDR"] = "203.0.113.9"  # the address key, as the failed-login limit uses it
    assert count_usage(request, group="login-failed", key="ip", rate="5/5m")["count"] == 1
    assert get_usage(request, group="login-failed", key="ip", rate="5/5m")["count"] == 1
