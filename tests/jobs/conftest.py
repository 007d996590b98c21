"""Fixtures for the job reliability tests (SECURITY.md T42–T50)."""

import pytest
from django_tasks import task_backends

from images.jobs import find_violations
from profiles.models import ImageProfile


@pytest.fixture
def database_queue(settings):
    """The real ORM queue (django-tasks-db) instead of the test suite's immediate backend."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    assert type(task_backends["default"]).__name__ == "DatabaseBackend"


@pytest.fixture
def fake_profile(alice, fake_provider):
    return ImageProfile.objects.create(owner=alice, name="Fake", provider="fake", is_default=True)


@pytest.fixture(autouse=True)
def invariants_hold(db):
    """T50: after every reliability test, every job is terminal or leased and no file is lost or orphaned.

    Depends on `db` so that it runs before the test's database is rolled back or flushed.
    """
    yield
    assert find_violations() == []


def task_rows(generation_id=None):
    from django_tasks_db.models import DBTaskResult

    rows = DBTaskResult.objects.filter(task_path="images.tasks.run_generation")
    if generation_id is not None:
        rows = rows.filter(args_kwargs__args__0=generation_id)
    return rows


@pytest.fixture
def postgresql():
    """Scale-path tests run in ./run test's PostgreSQL pass (imagegen_site/test_settings_scale.py)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip(
            f"needs PostgreSQL; this run is on {connection.vendor} "
            "(./run test runs the job and API tests again on PostgreSQL + Redis when 127.0.0.1:5432 answers)"
        )
