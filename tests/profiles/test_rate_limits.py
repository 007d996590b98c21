"""Per-user generation limits (T31, T32), the cache check (T33) and failed-login limits (T34)."""

import os
import threading

import pytest
from django.core.checks import run_checks
from django.test import Client
from django.urls import reverse

from chats.models import Chat
from images.models import Generation

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat(alice):
    return Chat.objects.create(owner=alice)


def test_the_eleventh_image_in_a_minute_is_refused_by_the_api(alice_api, chat, settings,
                                                              django_capture_on_commit_callbacks):
    settings.IMAGEGEN_MAX_ACTIVE_PER_USER = 0  # the jobs stay queued until the block ends; test the rate alone
    url = reverse("api:chat-messages", args=[chat.pk])
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(10):
            assert alice_api.post(url, {"content": f"/image fox {i}"}, format="json").status_code == 202
        response = alice_api.post(url, {"content": "/image one too many"}, format="json")
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited" and int(response["Retry-After"]) >= 1
    assert Generation.objects.count() == 10
    assert not chat.messages.filter(content="/image one too many").exists()
    # Plain messages start nothing, so they are not limited.
    assert alice_api.post(url, {"content": "hello"}, format="json").status_code == 201


def test_the_limit_is_per_user_and_shared_by_page_and_api(alice_api, alice_client, bob, chat, settings,
                                                          django_capture_on_commit_callbacks):
    settings.IMAGEGEN_GENERATE_RATE = "2/m"
    with django_capture_on_commit_callbacks(execute=True):
        assert alice_api.post(reverse("api:chat-messages", args=[chat.pk]), {"content": "/image a"},
                              format="json").status_code == 202
        page = reverse("chat-message-create", args=[chat.pk])
        assert alice_client.post(page, {"content": "/image b"}, HTTP_HX_REQUEST="true").status_code == 200
        refused = alice_client.post(page, {"content": "/image c"}, HTTP_HX_REQUEST="true")
        assert refused.status_code == 429 and "Too many image requests" in refused.content.decode()
        assert refused["Retry-After"]
        bobs_chat = Chat.objects.create(owner=bob)
        bob_client = Client()
        bob_client.force_login(bob)
        assert bob_client.post(reverse("chat-message-create", args=[bobs_chat.pk]), {"content": "/image d"},
                               HTTP_HX_REQUEST="true").status_code == 200


def test_generate_image_is_limited_too(alice_api, settings, django_capture_on_commit_callbacks):
    settings.IMAGEGEN_GENERATE_RATE = "1/m"
    with django_capture_on_commit_callbacks(execute=True):
        assert alice_api.post(reverse("api:generate-image"), {"prompt": "a fox"}, format="json").status_code == 200
    response = alice_api.post(reverse("api:generate-image"), {"prompt": "a fox"}, format="json")
    assert response.status_code == 429 and response.json()["code"] == "rate_limited"
    assert Generation.objects.count() == 1


@pytest.mark.parametrize("backend", [
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.filebased.FileBasedCache",
    "django.core.cache.backends.db.DatabaseCache",
    "django.core.cache.backends.dummy.DummyCache",
])
def test_unshared_or_non_atomic_caches_fail_the_check(settings, backend, tmp_path):
    settings.CACHES = {**settings.CACHES, "ratelimit": {"BACKEND": backend, "LOCATION": str(tmp_path / "c")}}
    assert "django_ratelimit.E003" in [m.id for m in run_checks()]


def test_the_configured_caches_pass_the_check(settings):
    ids = [m.id for m in run_checks() if m.id.startswith("django_ratelimit")]
    assert "django_ratelimit.E003" not in ids
    settings.CACHES = {**settings.CACHES, "ratelimit": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                                       "LOCATION": "redis://127.0.0.1:6379/0"}}
    assert not [m for m in run_checks() if m.id.startswith("django_ratelimit") and not m.is_silenced()]


def _redis_available() -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
        return True
    except OSError:
        return False


def _concurrent_starts(settings) -> list[bool]:
    """30 threads each count one generation start for the same user; returns who was refused."""
    from django.test import RequestFactory

    from imagegen_site.ratelimits import RateLimited, check_generate_rate

    request = RequestFactory().post("/")
    request.user = type("U", (), {"pk": 4242})()
    refused, errors, barrier = [], [], threading.Barrier(30)

    def start() -> None:
        barrier.wait()
        try:
            check_generate_rate(request)
            refused.append(False)
        except RateLimited:
            refused.append(True)
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(repr(e))
        finally:
            from django.db import connection

            connection.close()

    threads = [threading.Thread(target=start) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    return refused


@pytest.mark.skipif(not _redis_available(), reason="no Redis on 127.0.0.1:6379: the shared-counter race is untested")
def test_thirty_concurrent_starts_let_exactly_ten_through_on_redis(settings):
    """T32 on the scale path: Redis INCR is atomic, so 30 racing starts give exactly 10 accepted."""
    from django.core.cache import caches

    settings.CACHES = {**settings.CACHES, "ratelimit": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                                       "LOCATION": "redis://127.0.0.1:6379/15",
                                                       "KEY_PREFIX": f"t{os.getpid()}"}}
    caches["ratelimit"].clear()
    try:
        refused = _concurrent_starts(settings)
    finally:
        caches["ratelimit"].clear()
    assert refused.count(False) == 10 and refused.count(True) == 20


RACER = """
import os, sys, threading, django
django.setup()
from django.test import RequestFactory
from imagegen_site.ratelimits import RateLimited, check_generate_rate
request = RequestFactory().post("/")
request.user = type("U", (), {"pk": 4242})()
results, barrier = [], threading.Barrier(6)
def start():
    barrier.wait()
    try:
        check_generate_rate(request); results.append("ok")
    except RateLimited:
        results.append("limited")
    except Exception as e:
        results.append("error:" + type(e).__name__)
threads = [threading.Thread(target=start) for _ in range(6)]
[t.start() for t in threads]; [t.join() for t in threads]
print(" ".join(results))
"""


def test_thirty_concurrent_starts_across_processes_let_exactly_ten_through_on_the_database_cache(tmp_path):
    """T32 on the embedded default: 5 processes × 6 threads against a real SQLite file (WAL, busy timeout),
    as gunicorn and the workers would; the serialised increment of AtomicDatabaseCache loses no count."""
    import subprocess
    import sys

    env = {**os.environ, "IMAGEGEN_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "imagegen_site.settings",
           "FIELD_ENCRYPTION_KEYS": "", "DATABASE_URL": "", "REDIS_URL": ""}
    subprocess.run([sys.executable, "manage.py", "createcachetable"], env=env, check=True, capture_output=True)
    racers = [subprocess.Popen([sys.executable, "-c", RACER], env=env, stdout=subprocess.PIPE, text=True)
              for _ in range(5)]
    results = " ".join(racer.communicate(timeout=120)[0] for racer in racers).split()
    assert len(results) == 30 and not [r for r in results if r.startswith("error")], results
    assert results.count("ok") == 10 and results.count("limited") == 20


def test_the_sixth_bad_login_is_refused_whatever_x_forwarded_for_says(client, alice):
    for i in range(5):
        response = client.post(reverse("login"), {"username": "alice", "password": "wrong"},
                               HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")
        assert response.status_code == 200
    locked = client.post(reverse("login"), {"username": "alice", "password": "alice-pass-123"},
                         HTTP_X_FORWARDED_FOR="10.9.9.9")
    assert locked.status_code == 429 and locked["Retry-After"]
    assert "_auth_user_id" not in client.session
    other = Client(REMOTE_ADDR="192.0.2.7")
    assert other.post(reverse("login"), {"username": "alice", "password": "alice-pass-123"}).status_code == 302
