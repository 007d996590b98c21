"""`manage.py worker`: django-tasks-db's `db_worker`, plus a heartbeat so /readyz and the dashboard can see it."""

from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from ops.heartbeat import HeartbeatThread, forget


class Command(DbWorkerCommand):
    help = "Run a database task worker (same options as db_worker) that reports a heartbeat every 15 s."

    def add_arguments(self, parser) -> None:
        from imagegen_site.management.commands.serve import WORKER_POLL_INTERVAL_S

        super().add_arguments(parser)
        parser.set_defaults(interval=WORKER_POLL_INTERVAL_S)  # db_worker's own default (1 s) delays every idle pickup

    def handle(self, *args, worker_id: str, **options) -> None:
        heartbeat = HeartbeatThread(worker_id)
        heartbeat.start()
        try:
            super().handle(*args, worker_id=worker_id, **options)
        finally:
            heartbeat.stop()
            try:
                forget(worker_id)  # a clean stop leaves no stale row behind
            except Exception:
                pass
