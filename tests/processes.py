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
