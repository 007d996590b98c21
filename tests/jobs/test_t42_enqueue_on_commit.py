"""T42: a job is enqueued only when its row commits, and a lost enqueue is recovered by the sweeper."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from images.jobs import sweep
from images.models import Generation
from images.services import generation_start
from tests.jobs.conftest import task_rows

pytestmark = pytest.mark.django_db


def test_t42_an_image_request_inside_a_rolled_back_transaction_enqueues_nothing(
    alice, database_queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            generation_start(owner=alice, prompt="a fox")
            raise RuntimeError("the view failed after starting the job")
    assert callbacks == []
    assert Generation.objects.count() == 0
    assert task_rows().count() == 0


def test_t42_a_committed_request_enqueues_exactly_once(alice, database_queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        generation = generation_start(owner=alice, prompt="a fox")
    # The ORM queue is in the same database: its task row is written in the generation's transaction (it commits or
    # rolls back with it), not by a callback at commit.
    assert callbacks == []
    assert task_rows(generation.pk).count() == 1


def test_t42_a_queue_outside_the_database_is_enqueued_at_commit_only(alice, settings,
                                                                     django_capture_on_commit_callbacks):
    from unittest import mock

    from images.services import queue_shares_the_transaction

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": ["default"]}}
    assert not queue_shares_the_transaction()
    with mock.patch("images.services.enqueue_generation") as enqueue:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            generation_start(owner=alice, prompt="a fox")
        assert enqueue.call_count == 0 and len(callbacks) == 1  # waiting for the commit
        callbacks[0]()
        assert enqueue.call_count == 1


@pytest.mark.django_db(transaction=True)  # real commits, and db_worker may close the connection (PostgreSQL)
def test_t42_queue_down_at_commit_the_row_waits_and_the_sweeper_enqueues_it(alice, database_queue, monkeypatch):
    from django_tasks_db.backend import DatabaseBackend

    real_enqueue = DatabaseBackend.enqueue

    def broker_down(self, *args, **kwargs):
        raise ConnectionError("the queue is down")

    monkeypatch.setattr(DatabaseBackend, "enqueue", broker_down)
    with transaction.atomic():  # as the chat view's request: the failed enqueue at commit does not fail it
        generation = generation_start(owner=alice, prompt="a fox")
    generation.refresh_from_db()
    assert generation.status == "queued" and task_rows().count() == 0

    monkeypatch.setattr(DatabaseBackend, "enqueue", real_enqueue)
    assert sweep(now=timezone.now() + timedelta(seconds=60)).reenqueued == []  # within the grace period: not lost yet
    report = sweep(now=timezone.now() + timedelta(seconds=121))  # the next 60 s pass, past the 2 min grace
    assert report.reenqueued == [generation.pk]
    assert task_rows(generation.pk).count() == 1
    # A second sweeper (or the next pass) sees the task waiting and does not enqueue it again.
    assert sweep(now=timezone.now() + timedelta(seconds=300)).reenqueued == []

    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    generation.refresh_from_db()
    assert generation.status == "succeeded" and generation.images.count() == 1
