"""Real processes sharing one database: a web server and two db_workers writing at once (no "database is locked",
nothing lost or done twice), and a worker SIGKILLed mid-generation recovered by the sweeper (T45, T50).

On the default run the processes share a temporary SQLite file (WAL + IMMEDIATE, as in production); in the
PostgreSQL pass they share the PostgreSQL test database.
"""

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet
from django.db import connection

from tests.processes import stop_children

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


class Cluster:
    """Starts processes with one shared environment; stops every one of them (by pid) at the end."""

    def __init__(self, tmp_path: Path, media_root: Path, **env: str) -> None:
        self.tmp = tmp_path
        self.slow = tmp_path / "slow"
        self.slow.mkdir()
        if connection.vendor == "postgresql":
            s = connection.settings_dict
            database_url = f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
        else:
            database_url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in ("PROMETHEUS_MULTIPROC_DIR",)},
            "DJANGO_SETTINGS_MODULE": "imagegen_site.settings",
            "DATABASE_URL": database_url,
            "IMAGEGEN_DATA_DIR": str(tmp_path / "data"),
            "MEDIA_ROOT": str(media_root),
            "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
            "SLOW_PROVIDER_DIR": str(self.slow),
            # A deployment-like environment (DATABASE_URL set) must bring its own secrets.
            "SECRET_KEY": "multi-process-test-" + "x" * 50,
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "IMAGEGEN_GENERATE_RATE": "1000/m",
            "IMAGEGEN_LOGIN_RATE": "1000/m",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.children: dict[str, subprocess.Popen] = {}
        if connection.vendor != "postgresql":
            self.manage("migrate", "--noinput", "-v", "0")
            self.manage("createcachetable")

    def _run(self, args: list[str]) -> str:
        done = subprocess.run(args, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def manage(self, *args: str) -> str:
        return self._run([sys.executable, "manage.py", *args])

    def procs(self, *args: str) -> str:
        return self._run([sys.executable, "-m", "tests.jobs.procs", *args])

    def report(self) -> dict:
        return json.loads(self.procs("report"))

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "w")
        self.children[name] = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self.children[name]

    def start_worker(self, name: str) -> subprocess.Popen:
        return self.start(name, sys.executable, "-m", "tests.jobs.procs", "worker")

    def start_sweeper(self, interval: float = 0.5) -> subprocess.Popen:
        return self.start("sweeper", sys.executable, "manage.py", "sweep_jobs", "--loop", "--interval", str(interval))

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text()

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{self.log(name)}" for name in self.children)

    def stop(self) -> None:
        stop_children(self.children.values())


@pytest.fixture
def cluster(tmp_path, media_root):
    clusters = []

    def make(**env: str) -> Cluster:
        clusters.append(Cluster(tmp_path, media_root, **env))
        return clusters[-1]

    yield make
    for c in clusters:
        c.stop()


def wait_until(predicate, *, timeout: float, what: str, logs=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs()}")


def test_t45_a_worker_sigkilled_mid_generation_is_recovered_by_the_sweeper(cluster):
    c = cluster(IMAGEGEN_JOB_LEASE_S="2")
    job = int(c.procs("slow-job", "alice", "a fox in the snow").strip())
    (c.slow / "block").touch()
    doomed = c.start_worker("worker-a")
    wait_until(lambda: (c.slow / "started").exists(), timeout=30, what="worker A to call the provider", logs=c.logs)
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=10)
    (before,) = c.report()["generations"]
    assert (before["pk"], before["status"], before["attempts"]) == (job, "running", 1)

    (c.slow / "block").unlink()
    c.start_worker("worker-b")
    c.start_sweeper()
    final = wait_until(
        lambda: (r := c.report())["generations"][0]["status"] == "succeeded" and r,
        timeout=40, what="the sweeper to requeue the job and worker B to finish it", logs=c.logs,
    )
    assert final["generations"][0]["attempts"] == 2
    assert final["images_per_generation"] == {str(job): 1}
    assert len(final["files"]) == 2  # one image and its thumbnail
    assert final["violations"] == []
    calls = (c.slow / "calls.log").read_text().splitlines()
    assert len(calls) == 2  # the killed call and the one that finished
    assert "requeued 1 expired lease" in c.log("sweeper")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def signed_in(session_key: str) -> requests.Session:
    session = requests.Session()
    csrf = secrets.token_hex(16)  # a 32-character CSRF secret, sent as cookie and header as a browser's JS would
    session.cookies.update({"sessionid": session_key, "csrftoken": csrf})
    session.headers["X-CSRFToken"] = csrf
    return session


def test_web_and_two_workers_write_at_once_without_locks_losses_or_duplicates(cluster):
    c = cluster()
    users = ["ann", "ben", "cat", "dan"]
    session_keys = json.loads(c.procs("users", *users))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    c.start("web", sys.executable, "-m", "gunicorn", "imagegen_site.wsgi:application", "--bind", f"127.0.0.1:{port}",
            "--workers", "2", "--graceful-timeout", "2")
    c.start_worker("worker-1")
    c.start_worker("worker-2")
    c.start_sweeper(interval=1)

    def web_up():
        try:
            return requests.get(f"{base}/api/", timeout=5).status_code < 500
        except requests.RequestException:
            return False

    wait_until(web_up, timeout=30, what="gunicorn to answer", logs=c.logs)
    sessions = {user: signed_in(session_keys[user]) for user in users}
    chats = {user: s.post(f"{base}/api/chats/", json={"title": "load"}, timeout=10).json()["id"] for user, s in sessions.items()}

    def post(job):
        user, i = job
        s = sessions[user]
        answer = s.post(f"{base}/api/chats/{chats[user]}/messages/", json={"content": f"/image {user} fox {i} --seed {i}"},
                        timeout=30)
        # Read while the workers write, as a polling page does.
        reads = [s.get(f"{base}/api/generations/", timeout=30).status_code for _ in range(3)]
        return answer.status_code, answer.text[:300], reads

    jobs = [(user, i) for i in range(4) for user in users]  # 4 per user: within the per-user active-jobs cap
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        answers = list(pool.map(post, jobs))
    assert [a[0] for a in answers] == [202] * len(jobs), answers
    assert all(code == 200 for a in answers for code in a[2]), answers

    def all_finished():
        report = c.report()
        return all(g["status"] not in ("queued", "running") for g in report["generations"]) and report

    final = wait_until(all_finished, timeout=120, what="every job to finish", logs=c.logs)
    statuses = {(g["status"], g["attempts"]) for g in final["generations"]}
    assert len(final["generations"]) == len(jobs) and statuses == {("succeeded", 1)}, final["generations"]
    assert sorted(final["images_per_generation"].values()) == [1] * len(jobs)  # nothing lost, nothing twice
    assert len(final["files"]) == 2 * len(jobs)
    assert final["failed_tasks"] == [] and final["violations"] == []
    logs = c.logs()
    assert "database is locked" not in logs and "Traceback" not in logs, logs[-5000:]
