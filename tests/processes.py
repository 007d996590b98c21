"""Helpers for tests that run the product as real processes (gunicorn, workers, the sweeper)."""

import signal
import subprocess
from collections.abc import Iterable


def stop_children(children: Iterable[subprocess.Popen]) -> None:
    """SIGTERM every child still running, then wait up to 10 s each before killing it."""
    children = list(children)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def run_serve(monkeypatch, tmp_path, argv: list[str] | None = None) -> list[list[str]]:
    """Run `manage.py serve` (with these arguments, parsed by its own parser) with Popen recorded instead of started
    and stopped at its first wait; returns the command lines it would have started."""
    import pytest

    from imagegen_site.management.commands import serve

    started: list[list[str]] = []

    class Child:
        returncode = 0

        def __init__(self, cmd):
            started.append(cmd)

        def poll(self):
            return None

        def send_signal(self, signum):
            assert signum == signal.SIGTERM

        def wait(self, timeout=None):
            return 0

    def stop_at_once(seconds):
        raise KeyboardInterrupt

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr(serve.subprocess, "Popen", Child)
    monkeypatch.setattr(serve.time, "sleep", stop_at_once)
    command = serve.Command()
    options = command.create_parser("manage.py", "serve").parse_args(argv or [])
    with pytest.raises(KeyboardInterrupt):
        command.handle(**vars(options))
    return started


def wait_for_http(url: str, *, process=None, timeout: float = 30, describe=lambda: ""):
    """GET `url` until it answers (any status), while `process` (if given) is still running; returns the response.
    Fails with `describe()` (the server's log) when it does not answer in time or the process died."""
    import time

    import requests

    deadline = time.monotonic() + timeout
    while True:
        try:
            return requests.get(url, timeout=2)
        except requests.RequestException:
            pass
        assert (process is None or process.poll() is None) and time.monotonic() < deadline, describe()
        time.sleep(0.2)
