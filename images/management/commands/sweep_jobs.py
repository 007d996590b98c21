"""Recover lost generation work: expired leases, lost enqueues, stale previews, orphan files (images/jobs.py).

`./run` (the `serve` command) runs `sweep_jobs --loop`. On other machines run it next to the workers; several
sweepers at once are safe, because every change is a compare-and-set on the job row.
"""

import signal
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections, connections
from django.db.utils import DatabaseError

from images.jobs import sweep

# Listing every stored file is the sweeper's only costly step (an S3 LIST): do it this often, not every pass.
FILES_EVERY_S = 3600


class Command(BaseCommand):
    help = "Requeue jobs whose worker died, re-enqueue jobs that were never picked up, delete orphan files."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--loop", action="store_true", help="keep sweeping until stopped (SIGTERM/Ctrl-C)")
        parser.add_argument(
            "--interval", type=float, default=settings.IMAGEGEN_SWEEP_INTERVAL_S, help="seconds between passes"
        )
        parser.add_argument("--no-files", action="store_true", help="skip the orphan file clean-up")

    def handle(self, *args, loop: bool, interval: float, no_files: bool, **options) -> None:
        if not loop:
            self.stdout.write(str(sweep(files=not no_files)))
            return
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        files_due = time.monotonic()
        while not stop.is_set():
            close_old_connections()  # drop a connection the database closed since the last pass
            with_files = not no_files and time.monotonic() >= files_due
            try:
                report = sweep(files=with_files)
            except DatabaseError as e:
                # A database restart must not kill the sweeper: reconnect and try again next pass.
                self.stderr.write(f"sweep failed, retrying in {interval:g} s: {e}")
                connections.close_all()
            else:
                if with_files:
                    files_due = time.monotonic() + FILES_EVERY_S
                if report.changed_anything:
                    self.stdout.write(str(report), ending="\n")
                    self.stdout.flush()
            stop.wait(interval)
