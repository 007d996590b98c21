"""The embedded default's real queue: django-tasks-db rows picked up by `manage.py db_worker`."""

import pytest
from django.core.management import call_command
from django_tasks import task_backends

from chats.models import Chat
from chats.services import chat_message_post
from images.models import Generation


@pytest.fixture
def database_queue(settings):
    # django-tasks rebuilds its backends when the TASKS setting changes (and again when it is restored).
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    assert type(task_backends["default"]).__name__ == "DatabaseBackend"


@pytest.mark.django_db(transaction=True)
def test_the_db_worker_runs_a_queued_image(alice, database_queue):
    from django_tasks_db.models import DBTaskResult

    chat = Chat.objects.create(owner=alice)
    chat_message_post(chat=chat, content="/image a fox at dawn --seed 1")  # commits, so on_commit enqueues
    generation = Generation.objects.get()
    assert generation.status == "queued"
    assert DBTaskResult.objects.count() == 1

    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)

    generation.refresh_from_db()
    assert generation.status == "succeeded", generation.error_message
    assert generation.images.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_worker_command_outlives_a_lost_database_connection(alice, database_queue, monkeypatch):
    """`manage.py worker` (ops): a task whose connection died, so that even its failure cannot be recorded, ends the
    task, not the worker: it reconnects and runs the next job (tests/jobs/test_scale_database_faults.py does this
    against a real PostgreSQL)."""
    from django.db.utils import OperationalError
    from django_tasks_db.models import DBTaskResult

    from images import services
    from ops.management.commands import worker

    chat = Chat.objects.create(owner=alice)
    chat_message_post(chat=chat, content="/image lost on the way")
    chat_message_post(chat=chat, content="/image made after the reconnect")
    lost, made = Generation.objects.order_by("pk")
    real_run, real_set_failed = services.generation_run, DBTaskResult.set_failed
    broken = {"run": True, "set_failed": True}

    def run_on_a_dead_connection(*, generation_id):
        if generation_id == lost.pk and broken.pop("run", False):
            raise OperationalError("terminating connection due to administrator command")
        real_run(generation_id=generation_id)

    def set_failed_once_broken(self, exc):
        if broken.pop("set_failed", False):
            raise OperationalError("the connection is closed")
        real_set_failed(self, exc)

    monkeypatch.setattr(services, "generation_run", run_on_a_dead_connection)
    monkeypatch.setattr(DBTaskResult, "set_failed", set_failed_once_broken)
    monkeypatch.setattr(worker, "RECONNECT_WAIT_S", 0)

    call_command("worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)

    assert broken == {}
    made.refresh_from_db()
    assert made.status == "succeeded"
    # The lost job's task is recorded as failed once the connection is back; the job itself is the sweeper's to
    # recover (T45: its lease expires, or its enqueue counts as lost).
    rows = DBTaskResult.objects.order_by("enqueued_at")
    assert [r.status for r in rows] == ["FAILED", "SUCCESSFUL"]
    assert "OperationalError" in rows[0].exception_class_path
