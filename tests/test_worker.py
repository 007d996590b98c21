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
