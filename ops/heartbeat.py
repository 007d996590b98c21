"""Task workers say they are alive: `manage.py worker` (db_worker plus this) touches a row every few seconds.

Readiness needs "a worker seen in the last minute"; the ORM queue itself cannot tell, because an idle
`db_worker` writes nothing. The heartbeat runs in a daemon thread with its own database connection, so it keeps
beating while a long generation runs in the main thread.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta

from django.db import close_old_connections, connection
from django.utils import timezone

from .models import WorkerHeartbeat

logger = logging.getLogger(__name__)

BEAT_EVERY_S = 15.0
ALIVE_WITHIN = timedelta(seconds=60)


def beat(worker_id: str) -> None:
    now = timezone.now()
    updated = WorkerHeartbeat.objects.filter(worker_id=worker_id).update(last_seen=now)
    if not updated:
        WorkerHeartbeat.objects.create(
            worker_id=worker_id, hostname=socket.gethostname()[:255], pid=os.getpid(), started_at=now, last_seen=now
        )


def forget(worker_id: str) -> None:
    WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()


def live_workers():
    return WorkerHeartbeat.objects.filter(last_seen__gte=timezone.now() - ALIVE_WITHIN)


def prune_dead(older_than: timedelta = timedelta(days=1)) -> int:
    return WorkerHeartbeat.objects.filter(last_seen__lt=timezone.now() - older_than).delete()[0]


class HeartbeatThread(threading.Thread):
    def __init__(self, worker_id: str, every_s: float = BEAT_EVERY_S) -> None:
        super().__init__(name=f"heartbeat-{worker_id[:8]}", daemon=True)
        self.worker_id, self.every_s = worker_id, every_s
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                close_old_connections()
                beat(self.worker_id)
            except Exception:  # a locked or unreachable database must not kill the worker; readiness will tell
                logger.warning("worker heartbeat failed", exc_info=True)
            finally:
                connection.close()  # this thread's own connection; never hold a SQLite handle while sleeping
            self.stopped.wait(self.every_s)

    def stop(self) -> None:
        self.stopped.set()
