import pytest
from django_tasks import task_backends

from profiles.models import ImageProfile


@pytest.fixture
def database_queue(settings):
    """The real ORM queue (django-tasks-db) instead of the test suite's immediate backend: jobs wait, as in ./run."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    assert type(task_backends["default"]).__name__ == "DatabaseBackend"


@pytest.fixture
def fake_chain(alice, fake_provider):
    """Profile A (default) falls back to profile B; both on the scriptable fake provider."""
    b = ImageProfile.objects.create(owner=alice, name="B", provider="fake")
    a = ImageProfile.objects.create(owner=alice, name="A", provider="fake", fallback=b, is_default=True)
    return a, b
