"""Run the whole product in one terminal: the web server and the task workers. Ctrl-C stops them all."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from ops.metrics import prepare_multiprocess_dir

# How long an idle task worker sleeps between looks at the queue: a job posted to an idle worker waits half this
# on average. 0.1 s costs one short indexed SELECT per worker per tick (bench P2: 0.5 s added ~0.25 s per image).
WORKER_POLL_INTERVAL_S = 0.1


# An RQ worker for TASKS_BACKEND=rq (django-tasks-rq): its Job class runs the Django task; --with-scheduler moves
# retries whose run_after has come (a provider's Retry-After, backoff) from RQ's scheduled registry to the queue.
RQ_WORKER_ARGS = ["--job-class", "django_tasks_rq.Job", "--with-scheduler", "default"]


# Threads per gunicorn process. The web processes use gthread workers: a chat reply's server-sent-events stream (up
# to minutes) and POST /api/generate-image's wait hold one thread each, not a whole process, so a few open chats
# no longer stall the site (with sync workers, three open streams did). The GIL still runs one thread's Python at a
# time, so more threads add no CPU; they cover requests that wait. Each thread keeps its own database connection
# (Django's connections are per thread; CONN_MAX_AGE keeps each open), so PostgreSQL needs web processes × threads
# connections for the web alone.
WEB_THREADS = 8


def web_command(python: str = sys.executable, *, bind: str, web_workers: int, threads: int) -> list[str]:
    """gunicorn's command line for the web processes. The bench (bench/run.py) starts the same one."""
    return [
        python, "-m", "gunicorn", "imagegen_site.wsgi:application", "--bind", bind,
        "--worker-class", "gthread", "--workers", str(web_workers), "--threads", str(threads),
        "--access-logfile", "-", "--graceful-timeout", "5",
        # With gthread this watches each process's main loop, not a request (a 3-minute stream does not trip it);
        # it stays above POST /api/generate-image's wait, as it had to with sync workers.
        "--timeout", str(settings.IMAGEGEN_SYNC_WAIT_S + 30),
        # LOG_FORMAT=json: the access log in the app's JSON line shape too (ops/gunicorn_logging.py).
        *(["--logger-class", "ops.gunicorn_logging.JsonAccessLogger"] if os.environ.get("LOG_FORMAT") == "json" else []),
    ]


def uses_rq_backend() -> bool:
    return settings.TASKS["default"]["BACKEND"].startswith("django_tasks_rq")


def worker_command(python: str = sys.executable) -> list[str]:
    """A task worker's command line for the configured backend: RQ's `rqworker` with TASKS_BACKEND=rq, otherwise
    ops' `worker` (db_worker plus a heartbeat). The bench starts the same one."""
    if uses_rq_backend():
        return [python, "manage.py", "rqworker", *RQ_WORKER_ARGS]
    return [python, "manage.py", "worker", "--no-reload", "--interval", str(WORKER_POLL_INTERVAL_S)]


class Command(BaseCommand):
    help = "Start gunicorn, the task workers (db_worker, or rqworker with TASKS_BACKEND=rq) and the sweeper; Ctrl-C stops them."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--bind", default=os.environ.get("IMAGEGEN_BIND", "127.0.0.1:8000"))
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("IMAGEGEN_WEB_WORKERS", 3)))
        parser.add_argument("--web-threads", type=int,
                            default=int(os.environ.get("IMAGEGEN_WEB_THREADS", WEB_THREADS)))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("IMAGEGEN_TASK_WORKERS", 2)))

    def handle(self, *args, bind: str, web_workers: int, workers: int, web_threads: int = WEB_THREADS,
               **options) -> None:
        python = sys.executable
        web = web_command(python, bind=bind, web_workers=web_workers, threads=web_threads)
        # db_worker plus a heartbeat (for /readyz and the dashboard), or an RQ worker with TASKS_BACKEND=rq.
        worker = worker_command(python)
        commands = {"web": web} | {f"worker-{i + 1}": worker for i in range(workers)}
        if not settings.TASKS["default"]["BACKEND"].startswith(("django_tasks_db", "django_tasks_rq")):
            commands = {"web": web}  # any other backend brings its own workers
        # Recovers jobs whose worker died or whose enqueue was lost (images/jobs.py); needed with every backend.
        commands["sweeper"] = [python, "manage.py", "sweep_jobs", "--loop"]
        if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:  # /metrics adds up the request counts of every process
            os.environ.update(prepare_multiprocess_dir(settings.DATA_DIR / "prometheus"))
        children: dict[str, subprocess.Popen] = {name: subprocess.Popen(cmd) for name, cmd in commands.items()}
        self.stdout.write(self.style.SUCCESS(f"imagegen is running on http://{bind}/ with {workers} worker(s). Ctrl-C stops it."))

        stopping = False

        def stop(signum, frame) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                time.sleep(0.5)
                for name, child in list(children.items()):
                    if child.poll() is not None and not stopping:
                        # A worker that dies is restarted; its job is recovered by the job's lease.
                        self.stderr.write(f"{name} exited with {child.returncode}; restarting it")
                        time.sleep(1)
                        children[name] = subprocess.Popen(commands[name])
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            for child in children.values():
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
            self.stdout.write("imagegen stopped.")
