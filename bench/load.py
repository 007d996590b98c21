"""Load and timing tools for the bench: wrk when installed, a small threaded Python generator otherwise, plus
sequential timing and a paced sampler. Plain http.client, one connection per request (what a first request costs;
wrk keeps its connections alive, as browsers do with gthread workers), so the client adds as little as it can.
"""

from __future__ import annotations

import http.client
import re
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlencode


@dataclass
class Client:
    """An HTTP client for one signed-in user of a server on 127.0.0.1."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def headers(self, extra: dict | None = None) -> dict[str, str]:
        h = {"Host": f"127.0.0.1:{self.port}"}
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return h | (extra or {})

    def request(self, method: str, path: str, *, form: dict | None = None,
                headers: dict | None = None) -> tuple[int, float, bytes, http.client.HTTPResponse]:
        body, extra = None, dict(headers or {})
        if form is not None:
            body = urlencode(form)
            extra["Content-Type"] = "application/x-www-form-urlencoded"
            if "csrftoken" in self.cookies:
                extra["X-CSRFToken"] = self.cookies["csrftoken"]
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        start = time.perf_counter()
        conn.request(method, path, body=body, headers=self.headers(extra))
        resp = conn.getresponse()
        data = resp.read()
        elapsed = time.perf_counter() - start
        conn.close()
        for header in resp.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return resp.status, elapsed, data, resp

    def login(self, login_path: str, username: str, password: str) -> None:
        status, _, page, _ = self.request("GET", login_path)
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if status != 200 or not token:
            raise RuntimeError(f"login page answered {status} without a CSRF token")
        status, _, _, resp = self.request(
            "POST", login_path,
            form={"username": username, "password": password, "csrfmiddlewaretoken": token.group(1).decode()},
        )
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"logging in as {username} failed (HTTP {status})")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(latencies: list[float]) -> dict:
    return {
        "n": len(latencies),
        "p50_ms": statistics.median(latencies) * 1000,
        "p90_ms": percentile(latencies, 90) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


class Sampler(threading.Thread):
    """GETs one path at a steady pace until stopped and keeps each latency (the "is the page still fast" probe)."""

    def __init__(self, client: Client, path: str, pause_s: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.client, self.path, self.pause_s = client, path, pause_s
        self.latencies: list[float] = []
        self.bad: list[int] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            status, elapsed, _, _ = self.client.request("GET", self.path)
            (self.latencies if status == 200 else self.bad).append(elapsed if status == 200 else status)
            self.stop_event.wait(self.pause_s)

    def stop(self) -> dict:
        self.stop_event.set()
        self.join(timeout=30)
        return summary(self.latencies) | {"non_200": len(self.bad)}


UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _seconds(text: str) -> float:
    number, unit = re.match(r"([\d.]+)([a-z]+)", text).groups()
    return float(number) * UNITS[unit]


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(client: Client, path: str, *, threads: int, connections: int, duration_s: int) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", "--latency", "--timeout", "10s"]
    for name, value in client.headers().items():
        if name != "Host":
            cmd += ["-H", f"{name}: {value}"]
    cmd.append(f"http://127.0.0.1:{client.port}{path}")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 60, check=True).stdout
    found = {p: _seconds(v) for p, v in re.findall(r"^\s+(50|90|99)%\s+(\S+)", out, re.M)}
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "tool": "wrk", "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "requests": total,
        "p50_ms": found["50"] * 1000, "p90_ms": found["90"] * 1000, "p99_ms": found["99"] * 1000,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(1) if errors else "",
    }


def run_python_load(client: Client, path: str, *, connections: int, duration_s: int) -> dict:
    """The fallback when wrk is missing: `connections` threads in a closed loop. The GIL caps what it can send,
    so its figures understate a fast server; the bench says so next to them."""
    latencies: list[float] = []
    bad = 0
    lock = threading.Lock()
    deadline = time.monotonic() + duration_s

    def worker() -> None:
        nonlocal bad
        mine, my_bad = [], 0
        while time.monotonic() < deadline:
            status, elapsed, _, _ = Client(client.port, dict(client.cookies)).request("GET", path)
            if 200 <= status < 400:
                mine.append(elapsed)
            else:
                my_bad += 1
        with lock:
            latencies.extend(mine)
            bad += my_bad

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return {"tool": "python", "rps": (len(latencies) + bad) / elapsed, "requests": len(latencies) + bad,
            **{k: v for k, v in summary(latencies).items() if k != "n"}, "non_2xx": bad, "socket_errors": ""}


def load(client: Client, path: str, *, threads: int = 2, connections: int = 16, duration_s: int = 10) -> dict:
    if have_wrk():
        return run_wrk(client, path, threads=threads, connections=connections, duration_s=duration_s)
    return run_python_load(client, path, connections=connections, duration_s=duration_s)
