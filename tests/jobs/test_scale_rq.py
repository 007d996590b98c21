"""The scale path's task backend: TASKS_BACKEND=rq (django-tasks-rq) queues generations in Redis and `serve` starts
RQ workers for them; the sweeper still recovers a lost enqueue through the Tasks API.

The process tests run in ./run test's PostgreSQL + Redis pass, against the real Redis on 127.0.0.1:6379 (database 14,
IMAGEGEN_TEST_RQ_REDIS_URL to change it: RQ's key names are fixed, so the RQ tests keep a database of their own).
"""

import os
import subprocess
import sys

import pytest
from django.test import override_settings

from imagegen_site.management.commands import serve
from tests.jobs.test_processes import Cluster, wait_until
from tests.processes import run_serve

RQ_REDIS_URL = os.environ.get("IMAGEGEN_TEST_RQ_REDIS_URL", "redis://127.0.0.1:6379/14")
RQ_TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}


def rq_redis():
    """The RQ tests' Redis database, emptied of earlier RQ keys; skips (saying why) when Redis does not answer."""
    import redis

    client = redis.Redis.from_url(RQ_REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"needs Redis at {RQ_REDIS_URL}: ./run test runs this in its PostgreSQL + Redis pass")
    for key in client.scan_iter("rq:*"):
        client.delete(key)
    return client


@pytest.fixture
def scale_pass(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis: ./run test runs the RQ backend tests in its PostgreSQL + Redis pass")
    return rq_redis()


# --- serve: which workers it starts ------------------------------------------------------------------------------


def test_serve_starts_rq_workers_and_the_sweeper_with_the_rq_backend(monkeypatch, tmp_path):
    with override_settings(TASKS=RQ_TASKS):
        commands = run_serve(monkeypatch, tmp_path, ["--bind", "127.0.0.1:0", "--web-workers", "1", "--workers", "2"])
    rq_workers = [c for c in commands if c[1:3] == ["manage.py", "rqworker"]]
    assert len(rq_workers) == 2
    assert rq_workers[0] == [sys.executable, "manage.py", "rqworker", "--job-class", "django_tasks_rq.Job",
                             "--with-scheduler", "default"]
    assert [sys.executable, "manage.py", "sweep_jobs", "--loop"] in commands
    assert not any(c[1:3] == ["manage.py", "worker"] for c in commands)  # no db_worker polls an unused table


def test_serve_starts_db_workers_with_the_default_backend(monkeypatch, tmp_path):
    with override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}):
        commands = run_serve(monkeypatch, tmp_path, ["--bind", "127.0.0.1:0", "--web-workers", "1", "--workers", "2"])
    assert sum(c[1:3] == ["manage.py", "worker"] for c in commands) == 2
    assert not any("rqworker" in c for c in commands)


def test_tasks_backend_rq_is_a_shorthand_and_needs_redis(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "IMAGEGEN_DATA_DIR": str(tmp_path), "TASKS_BACKEND": "rq"}
    code = "from django.conf import settings; print(settings.TASKS['default']['BACKEND'], 'django_rq' in settings.INSTALLED_APPS)"
    ok = subprocess.run([sys.executable, "-c", code], env={**env, "REDIS_URL": "redis://127.0.0.1:6379/14",
                        "DJANGO_SETTINGS_MODULE": "imagegen_site.settings"}, capture_output=True, text=True,
                        cwd=serve.settings.BASE_DIR, timeout=60)
    assert ok.stdout.split() == ["django_tasks_rq.RQBackend", "True"], ok.stderr
    refused = subprocess.run([sys.executable, "-c", code], env={**env, "DJANGO_SETTINGS_MODULE": "imagegen_site.settings"},
                             capture_output=True, text=True, cwd=serve.settings.BASE_DIR, timeout=60)
    assert refused.returncode != 0 and "TASKS_BACKEND=rq needs REDIS_URL" in refused.stderr


# --- the real thing: RQ workers on Redis, the sweeper -------------------------------------------------------------


def rq_cluster(tmp_path, media_root, **env) -> Cluster:
    return Cluster(tmp_path, media_root, TASKS_BACKEND="rq", REDIS_URL=RQ_REDIS_URL, **env)


@pytest.mark.django_db(transaction=True)
def test_scale_rq_worker_runs_generations_enqueued_through_the_tasks_api(scale_pass, tmp_path, media_root):
    c = rq_cluster(tmp_path, media_root)
    try:
        jobs = [int(c.procs("slow-job", "alice", f"an rq fox {i}").strip()) for i in range(3)]
        assert scale_pass.llen("rq:queue:default") == 3  # the messages are in Redis, not in the database queue
        assert c.report()["failed_tasks"] == []
        c.start("rq-1", sys.executable, "-m", "tests.jobs.procs", "rq-worker")
        c.start("rq-2", sys.executable, "-m", "tests.jobs.procs", "rq-worker")
        final = wait_until(
            lambda: (r := c.report()) and all(g["status"] == "succeeded" for g in r["generations"]) and r,
            timeout=60, what="the RQ workers to finish three jobs", logs=c.logs,
        )
        assert [g["pk"] for g in final["generations"]] == jobs
        assert {g["attempts"] for g in final["generations"]} == {1}
        assert final["images_per_generation"] == {str(j): 1 for j in jobs}
        assert final["violations"] == []
        assert len((c.slow / "calls.log").read_text().splitlines()) == 3  # each provider call made exactly once
        assert "Traceback" not in c.logs()
    finally:
        c.stop()


@pytest.mark.django_db(transaction=True)
def test_scale_rq_sweeper_reenqueues_a_lost_enqueue_through_the_tasks_api(scale_pass, tmp_path, media_root):
    c = rq_cluster(tmp_path, media_root, IMAGEGEN_QUEUED_GRACE_S="1")
    try:
        job = int(c.procs("slow-job", "alice", "a lost rq fox").strip())
        scale_pass.delete("rq:queue:default")  # the enqueue was lost: the row is queued, Redis holds nothing
        c.start("rq-1", sys.executable, "-m", "tests.jobs.procs", "rq-worker")
        c.start_sweeper(interval=0.5)
        final = wait_until(
            lambda: (r := c.report())["generations"][0]["status"] == "succeeded" and r,
            timeout=60, what="the sweeper to re-enqueue the job into RQ and the worker to run it", logs=c.logs,
        )
        assert final["generations"][0]["pk"] == job and final["images_per_generation"] == {str(job): 1}
        assert "re-enqueued 1 lost job(s)" in c.log("sweeper")
        assert final["violations"] == []
    finally:
        c.stop()


@pytest.mark.django_db(transaction=True)
def test_scale_rq_sweeper_leaves_jobs_waiting_in_redis_alone(scale_pass, settings, alice, fake_provider):
    """A job waiting in RQ (queued, or scheduled for a retry's backoff) is busy, not lost: no duplicate message."""
    from datetime import timedelta

    from django.utils import timezone

    from images.jobs import _has_waiting_task, sweep
    from images.models import Generation
    from images.services import enqueue_generation
    from profiles.models import ImageProfile

    settings.TASKS = RQ_TASKS
    settings.RQ_QUEUES = {"default": {"URL": RQ_REDIS_URL}}  # django-rq reads RQ_QUEUES on every call
    profile = ImageProfile.objects.create(owner=alice, name="Fake", provider="fake")
    waiting = Generation.objects.create(owner=alice, profile=profile, provider="fake", prompt="waits", parameters={"n": 1})
    later = Generation.objects.create(owner=alice, profile=profile, provider="fake", prompt="retry", parameters={"n": 1})
    enqueue_generation(waiting.pk)
    enqueue_generation(later.pk, delay_s=30)
    assert _has_waiting_task(waiting.pk) and _has_waiting_task(later.pk)
    long_ago = timezone.now() - timedelta(hours=1)
    Generation.objects.filter(pk__in=[waiting.pk, later.pk]).update(queued_at=long_ago, next_attempt_at=long_ago)
    assert sweep(files=False).reenqueued == []
    assert scale_pass.llen("rq:queue:default") == 1


@pytest.mark.scale
@pytest.mark.django_db(transaction=True)
def test_scale_rq_a_retry_after_is_scheduled_in_redis_and_run_by_the_scheduler(scale_pass, tmp_path, media_root):
    """T46 on RQ: a 429 with Retry-After becomes an RQ job scheduled for then (not a sleeping worker, not a busy
    loop); the rqworker's scheduler (--with-scheduler, as `serve` starts it) moves it to the queue when due."""
    from images.models import Generation

    c = rq_cluster(tmp_path, media_root)
    try:
        (c.slow / "rate_limited").write_text("2")  # the first call answers 429, Retry-After: 2
        job = int(c.procs("slow-job", "alice", "a patient rq fox").strip())
        c.start("rq-1", sys.executable, "-m", "tests.jobs.procs", "rq-worker")
        waiting = wait_until(  # this test's own connection reads the shared database
            lambda: Generation.objects.filter(pk=job, status="queued", attempts=1).exclude(next_attempt_at=None).first(),
            timeout=30, what="the first attempt to be rate limited and scheduled again", logs=c.logs,
        )
        assert waiting.error_code == "provider_rate_limited"
        first_call = float((c.slow / "calls.log").read_text().split()[1])
        assert waiting.next_attempt_at.timestamp() >= first_call + 2  # never sooner than the provider asked
        # In Redis: one job in RQ's scheduled registry, for when the row says; nothing waiting in the queue itself.
        scheduled = scale_pass.zrange("rq:scheduled:default", 0, -1, withscores=True)
        if scheduled:  # (unless the scheduler has already moved it: it was due)
            ((_, due),) = scheduled
            assert abs(due - waiting.next_attempt_at.timestamp()) < 1.5
            assert scale_pass.llen("rq:queue:default") == 0
        final = wait_until(
            lambda: (r := c.report())["generations"][0]["status"] == "succeeded" and r,
            timeout=30, what="the scheduler to enqueue the retry and the worker to run it", logs=c.logs,
        )
        assert final["generations"][0]["attempts"] == 2
        assert final["images_per_generation"] == {str(job): 1} and final["violations"] == []
        calls = [float(line.split()[1]) for line in (c.slow / "calls.log").read_text().splitlines()]
        assert len(calls) == 2 and calls[1] >= waiting.next_attempt_at.timestamp() - 0.05  # run when due, not before
        assert "Traceback" not in c.logs()
    finally:
        c.stop()
