"""Entry points for the multi-process job tests, run as `python -m tests.jobs.procs <command>` in subprocesses that
share one database (a temporary SQLite file, or the PostgreSQL test database) through DATABASE_URL."""

import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imagegen_site.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from images.providers import PROVIDERS  # noqa: E402

PROVIDERS["slow"] = ("Slow (tests)", "tests.jobs.slow_provider.SlowProvider")


def worker() -> None:
    call_command("db_worker", "--no-reload", "--no-startup-delay", "--interval", "0.1", "--worker-id", f"test-{os.getpid()}")


def ops_worker(worker_id: str = "") -> None:
    """`manage.py worker`, as ./run serve starts it: db_worker plus the heartbeat thread."""
    call_command("worker", "--no-reload", "--no-startup-delay", "--interval", "0.1",
                 "--worker-id", worker_id or f"test-{os.getpid()}")


def rq_worker() -> None:
    """An RQ worker with `manage.py serve`'s own arguments (TASKS_BACKEND=rq)."""
    from imagegen_site.management.commands.serve import RQ_WORKER_ARGS

    call_command("rqworker", *RQ_WORKER_ARGS)


def users(*names: str) -> None:
    """Create the users and print a signed-in session key for each (as a login would; no page rendering needed)."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model

    keys = {}
    for name in names:
        user = get_user_model().objects.create_user(name, password=f"{name}-pass-123")
        session = import_module(settings.SESSION_ENGINE).SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        keys[name] = session.session_key
    print(json.dumps(keys))


def slow_job(owner: str, prompt: str) -> None:
    from django.contrib.auth import get_user_model

    from images.services import generation_start
    from profiles.models import ImageProfile

    user, _ = get_user_model().objects.get_or_create(username=owner)
    profile, _ = ImageProfile.objects.get_or_create(owner=user, name="Slow", defaults={"provider": "slow"})
    print(generation_start(owner=user, prompt=prompt, profile=profile).pk)  # autocommit: enqueued on return


def report() -> None:
    from django.db.models import Count
    from django_tasks_db.models import DBTaskResult

    from images.jobs import find_violations, stored_files
    from images.models import GeneratedImage, Generation

    print(json.dumps({
        "generations": list(Generation.objects.order_by("pk").values("pk", "status", "attempts", "error_code")),
        "images_per_generation": dict(
            GeneratedImage.objects.values_list("generation_id").annotate(n=Count("pk")).values_list("generation_id", "n")
        ),
        "files": stored_files(),
        "failed_tasks": list(DBTaskResult.objects.filter(status="FAILED").values_list("exception_class_path", "traceback")),
        "violations": find_violations(),
    }, default=str))


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"worker": worker, "ops-worker": ops_worker, "rq-worker": rq_worker, "users": users, "slow-job": slow_job, "report": report}[command](*args)
