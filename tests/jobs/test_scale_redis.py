"""The scale path's shared cache: with REDIS_URL set, the cache and the rate-limit counters live in Redis, so every
web process and host sees the same counts."""

import threading

import pytest
from django.core.cache import caches

pytestmark = pytest.mark.scale


@pytest.fixture
def redis_cache(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis: ./run test runs this in its PostgreSQL + Redis pass when 127.0.0.1:6379 answers")
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.ping()
    return client


def test_scale_the_cache_is_redis_shared_by_every_process(redis_cache):
    cache = caches["default"]
    assert type(cache).__name__ == "RedisCache"
    cache.set("shared-check", "yes", 30)
    assert redis_cache.exists(cache.make_key("shared-check")) == 1  # another process's client sees it
    cache.delete("shared-check")


def test_scale_rate_limit_counters_increment_atomically_in_redis(redis_cache):
    counters = caches["ratelimit"]
    assert type(counters).__name__ == "RedisCache"
    counters.set("burst", 0, 30)

    def hammer():
        for _ in range(50):
            counters.incr("burst")

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counters.get("burst") == 400
    counters.delete("burst")
