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
