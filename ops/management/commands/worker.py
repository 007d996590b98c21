"""`manage.py worker`: django-tasks-db's `db_worker`, plus a heartbeat so /readyz and the dashboard can see it, and a
loop that outlives the database going away."""

import logging
import time

from django.db import connections
from django.db.utils import DatabaseError
from django_tasks_db.management.commands import db_worker
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from ops.heartbeat import HeartbeatThread, forget

logger = logging.getLogger(__name__)

RECONNECT_WAIT_S = 1.0


class ReconnectingWorker(db_worker.Worker):
    """db_worker's loop, surviving a PostgreSQL restart or failover, or a killed connection. django-tasks-db's own
    Worker lets the error end the process; here the connection is dropped and the loop carries on. The task in hand
    ends without its result written: its generation keeps its lease, and the sweeper requeues it when the lease
    expires (images/jobs.py), so nothing is lost, and the attempt number fences off anything done twice."""

    def run_task(self, db_task_result) -> None:
        try:
            super().run_task(db_task_result)
        except DatabaseError as e:  # recording the task's outcome failed: the connection is gone
            connections.close_all()
            try:  # once more on a new connection, so the task row does not stay RUNNING
                db_task_result.set_failed(e)
            except DatabaseError:
                connections.close_all()
            raise

    def run(self) -> None:
        while True:
            try:
                return super().run()
            except DatabaseError:
                if not self.running:
                    raise
                logger.warning("worker %s: the database is unavailable; trying again in %g s", self.worker_id,
                               RECONNECT_WAIT_S, exc_info=True)
                connections.close_all()
                time.sleep(RECONNECT_WAIT_S)


class Command(DbWorkerCommand):
    help = "Run a database task worker (same options as db_worker) that reports a heartbeat every 15 s."

    def add_arguments(self, parser) -> None:
        from imagegen_site.management.commands.serve import WORKER_POLL_INTERVAL_S

        super().add_arguments(parser)
        parser.set_defaults(interval=WORKER_POLL_INTERVAL_S)  # db_worker's own default (1 s) delays every idle pickup

    def handle(self, *args, worker_id: str, **options) -> None:
        heartbeat = HeartbeatThread(worker_id)
        heartbeat.start()
        # db_worker's handle builds its worker from this module-level name; its options are ours unchanged.
        upstream, db_worker.Worker = db_worker.Worker, ReconnectingWorker
        try:
            super().handle(*args, worker_id=worker_id, **options)
        finally:
            db_worker.Worker = upstream
            heartbeat.stop()
            try:
                forget(worker_id)  # a clean stop leaves no stale row behind
            except Exception:
                pass
