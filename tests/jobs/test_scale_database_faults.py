"""Database faults on the scale path while a worker is inside a provider call: PostgreSQL drops every connection
(pg_terminate_backend, which needs no root), or PostgreSQL restarts (every connection dropped, then connections
refused for a while; played by a loopback proxy in front of the shared server, which the test must not restart).

The job must end `succeeded` with exactly one image row and one set of files, nothing lost and nothing twice
(T45, T50), and the worker (`manage.py worker`, ops/management/commands/worker.py) must live through it. Runs in
./run test's PostgreSQL + Redis pass (marked `scale`); skipped, saying why, on the default SQLite run.
"""

import socket
import sys
import threading
import time

import pytest
from django.db import connection

from images.models import Generation
from tests.jobs.test_processes import Cluster, cluster, wait_until  # noqa: F401  (fixture)

pytestmark = [pytest.mark.scale, pytest.mark.django_db(transaction=True)]


def terminate_other_connections() -> int:
    """Kill every other session on this test database (the worker's, and the sweeper's if it is mid-pass)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


class RestartingProxy:
    """A TCP proxy on 127.0.0.1 in front of PostgreSQL. `restart(down_s)` does to its clients what a server restart
    does: every connection is cut, and new ones are refused until the server is back."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener: socket.socket | None = None
        self.listen()

    def listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(32)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self.accept, args=(listener,), daemon=True).start()

    def accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed: the server is "down"
            server = socket.create_connection(self.upstream)
            with self.lock:
                self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self.pump, args=(a, b), daemon=True).start()

    @staticmethod
    def pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        for s in (source, target):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        """Stop accepting and cut every live connection (the server going down)."""
        self.listener.close()
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self.cut()


def run_job_through(fault, c: Cluster) -> None:
    """Start the worker and the sweeper, block the provider mid-call, apply `fault`, and check the job's ending."""
    started = time.monotonic()
    job = int(c.procs("slow-job", "alice", "a fox through a database fault").strip())
    (c.slow / "block").touch()
    # The production worker (db_worker with its reconnecting loop and heartbeat thread, as ./run serve starts it).
    worker = c.start("worker", sys.executable, "-m", "tests.jobs.procs", "ops-worker")
    c.start_sweeper(interval=0.5)
    wait_until(lambda: (c.slow / "started").exists(), timeout=15, what="the worker to call the provider", logs=c.logs)

    fault(lambda: (c.slow / "block").unlink())  # the provider answers while (or right after) the database is away

    wait_until(  # read through this test's own connection: quicker than a report process per look
        lambda: Generation.objects.filter(pk=job).exclude(status__in=["queued", "running"]).exists(),
        timeout=20, what="the job to finish or be recovered", logs=c.logs,
    )
    final = c.report()
    (generation,) = final["generations"]
    assert (generation["pk"], generation["status"]) == (job, "succeeded"), c.logs()
    assert final["images_per_generation"] == {str(job): 1}  # nothing lost, nothing twice
    assert len(final["files"]) == 2  # one image and its thumbnail (content-addressed: a rerun writes the same names)
    assert final["violations"] == []
    calls = (c.slow / "calls.log").read_text().splitlines()
    assert len(calls) == generation["attempts"] <= 2  # one provider call per attempt; at most one rerun
    assert worker.poll() is None, c.log("worker")  # the worker reconnected instead of dying
    # Either the attempt saw the outage and queued its own retry (images/services.py), or the worker's loop did and
    # the dead attempt came back through its lease and the sweeper.
    retried_in_place = "database error during the attempt; retrying" in c.log("worker")
    assert retried_in_place or "the database is unavailable" in c.log("worker"), c.log("worker")
    if generation["attempts"] == 2 and not retried_in_place:
        assert "requeued 1 expired lease" in c.log("sweeper")
    assert time.monotonic() - started < 30


def test_scale_connections_killed_while_a_worker_runs_a_job(postgresql, cluster):  # noqa: F811
    def kill(answer):
        assert terminate_other_connections() >= 1  # the worker's, held through the provider call
        answer()

    run_job_through(kill, cluster(IMAGEGEN_JOB_LEASE_S="2"))


def test_scale_postgresql_restarts_while_a_worker_runs_a_job(postgresql, cluster):  # noqa: F811
    s = connection.settings_dict
    proxy = RestartingProxy((s["HOST"] or "127.0.0.1", int(s["PORT"] or 5432)))
    try:
        c = cluster(IMAGEGEN_JOB_LEASE_S="2",
                    DATABASE_URL=f"postgres://{s['USER']}@127.0.0.1:{proxy.port}/{s['NAME']}")

        def restart(answer):
            proxy.cut()  # down: every connection cut, new ones refused
            answer()  # the worker comes back from the provider to a database that is not there
            time.sleep(3)
            proxy.listen()  # up again, on the same port

        run_job_through(restart, c)
    finally:
        proxy.close()
