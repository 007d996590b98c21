"""/healthz, /readyz and /metrics: unauthenticated health says nothing private; metrics are for operators."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from images.models import Generation
from ops.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db


@pytest.fixture
def db_queue(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def test_healthz_answers_without_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_is_unavailable_without_a_live_worker_and_ready_with_one(client, alice, db_queue):
    Generation.objects.create(owner=alice, provider="offline", prompt="alice's secret lighthouse")
    WorkerHeartbeat.objects.create(worker_id="old", hostname="h", pid=1, last_seen=timezone.now() - timedelta(minutes=5))
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["storage"] == {"ok": True}
    assert body["checks"]["workers"] == {"ok": False, "seen_last_minute": 0}
    assert body["queue"]["queued"] == 1

    WorkerHeartbeat.objects.create(worker_id="w1", hostname="worker-host-7", pid=4242)
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json()["status"] == "ready"
    text = response.content.decode()
    # Nothing private: no prompts, user names, host names, pids, paths.
    for private in ("lighthouse", "alice", "worker-host-7", "4242", "/tmp", "media"):
        assert private not in text, private


def test_readyz_fails_when_storage_is_not_writable(client, settings, tmp_path, db_queue):
    WorkerHeartbeat.objects.create(worker_id="w1", hostname="h", pid=1)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the media folder should be")
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": blocker}}}
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"] == {"ok": False}
    assert str(tmp_path) not in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_thread_records_a_live_worker(db_queue):
    from ops.heartbeat import HeartbeatThread, live_workers

    thread = HeartbeatThread("worker-abc", every_s=0.05)
    thread.start()
    try:
        deadline = timezone.now() + timedelta(seconds=5)
        while not _seen("worker-abc") and timezone.now() < deadline:
            time.sleep(0.02)  # let the heartbeat thread write between polls
    finally:
        thread.stop()
        thread.join(2)
    assert _seen("worker-abc")


def _seen(worker_id: str) -> bool:
    """Whether the heartbeat row is there. The test database is in-memory SQLite with a shared cache, where a read
    racing the thread's write fails with "database table is locked" instead of waiting: treat that as "not yet"."""
    from django.db import OperationalError

    from ops.heartbeat import live_workers

    try:
        return live_workers().filter(worker_id=worker_id).exists()
    except OperationalError:
        return False


@pytest.mark.django_db(transaction=True)
def test_the_worker_command_runs_jobs_and_beats(alice, db_queue):
    from django.core.management import call_command

    from chats.models import Chat
    from chats.services import chat_message_post

    chat = Chat.objects.create(owner=alice)
    chat_message_post(chat=chat, content="/image a fox --seed 3")
    call_command("worker", "--batch", "--no-startup-delay", "--no-reload", "--worker-id", "w-test", verbosity=0)
    assert Generation.objects.get().status == "succeeded"
    assert not WorkerHeartbeat.objects.filter(worker_id="w-test").exists()  # a clean stop removes its row


def test_metrics_are_for_operators_only(client, alice_client, alice, django_user_model, settings):
    assert client.get("/metrics").status_code == 401
    assert alice_client.get("/metrics").status_code == 401
    settings.METRICS_TOKEN = "scrape-token-123"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-123").status_code == 200
    staff = django_user_model.objects.create_user("ops", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get("/metrics").status_code == 200


def test_metrics_report_generations_durations_queue_retries_and_errors(admin_client, alice):
    now = timezone.now()
    Generation.objects.create(owner=alice, provider="openai", prompt="p", status="succeeded", attempts=2,
                              started_at=now - timedelta(seconds=3), finished_at=now)
    Generation.objects.create(owner=alice, provider="openai", prompt="p", status="failed", attempts=3,
                              error_code="provider_unavailable", started_at=now - timedelta(seconds=50), finished_at=now)
    Generation.objects.create(owner=alice, provider="offline", prompt="p")
    admin_client.get("/healthz")
    text = admin_client.get("/metrics").content.decode()
    assert 'imagegen_generations{provider="openai",status="succeeded"} 1.0' in text
    assert 'imagegen_generations{provider="openai",status="failed"} 1.0' in text
    assert 'imagegen_queue_depth{state="queued"} 1.0' in text
    assert 'imagegen_generation_retries_total{provider="openai"} 3.0' in text
    assert 'imagegen_provider_errors_total{code="provider_unavailable",provider="openai"} 1.0' in text
    assert 'imagegen_generation_duration_seconds_bucket{le="5.0",provider="openai"} 1.0' in text
    assert 'imagegen_generation_duration_seconds_bucket{le="60.0",provider="openai"} 2.0' in text
    assert 'imagegen_generation_duration_seconds_count{provider="openai"} 2.0' in text
    assert 'imagegen_generation_duration_seconds_sum{provider="openai"} 53.0' in text
    assert 'imagegen_http_requests_total{method="GET",status="200",view="healthz"}' in text
    assert "alice" not in text


def test_the_dashboard_is_for_staff(admin_client, alice_client, alice):
    Generation.objects.create(owner=alice, provider="openai", prompt="p", status="failed", estimated_cost_usd="0.04")
    assert alice_client.get("/ops/dashboard/").status_code == 302  # to the admin login
    html = admin_client.get("/ops/dashboard/").content.decode()
    assert "Generations per day by provider" in html and "openai" in html and "alice" in html and "0.0400" in html
