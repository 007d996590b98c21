""""Create another while you wait" (seed 003) and live previews (seed 001), in Chromium, against real processes.

Why this set-up: the suite's ImmediateBackend runs a job inside the request that queued it, so the message POST would
not answer until the image is done and could prove nothing about waiting; and the live server's in-memory SQLite
(shared cache, table locks, no busy timeout) fails with "database table is locked" as soon as two worker threads write
beside it. So, as in production: gunicorn plus two `db_worker` processes on one SQLite file (WAL + IMMEDIATE), and a
provider that reports 40 % with a partial image and then holds until the test lets it finish
(tests/e2e/gate_procs.py). Two /image commands are sent back to back; the box is empty and usable at once; both
cards run at the same time with percent and preview; both finish when released.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import Browser, expect

from tests.processes import stop_children, wait_for_http

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """gunicorn + two workers sharing one SQLite file; every child is stopped by its pid at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.gate = tmp, tmp / "gate"
        self.gate.mkdir()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        keep = {k: v for k, v in os.environ.items() if k not in ("PROMETHEUS_MULTIPROC_DIR", "DATABASE_URL",
                                                                 "DJANGO_ALLOW_ASYNC_UNSAFE", "TASKS_BACKEND")}
        self.env = {**keep, "DJANGO_SETTINGS_MODULE": "imagegen_site.settings", "IMAGEGEN_DATA_DIR": str(tmp / "data"),
                    "MEDIA_ROOT": str(tmp / "media"), "TASKS_BACKEND": "django_tasks_db.DatabaseBackend",
                    "GATE_DIR": str(self.gate), "DEBUG": "true",  # DEBUG: WhiteNoise serves static from the finders
                    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(), "IMAGEGEN_GENERATE_RATE": "1000/m",
                    "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.children: dict[str, subprocess.Popen] = {}

    def run(self, *args: str) -> str:
        done = subprocess.run([sys.executable, *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=180)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.strip()

    def start(self, name: str, *args: str) -> None:
        log = open(self.tmp / f"{name}.log", "w")
        self.children[name] = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=self.env, stdout=log,
                                               stderr=subprocess.STDOUT)

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{(self.tmp / f'{n}.log').read_text()[-3000:]}" for n in self.children)

    def stop(self) -> None:
        stop_children(self.children.values())


@pytest.fixture
def stack(tmp_path):
    s = Stack(tmp_path)
    try:
        s.run("manage.py", "migrate", "--noinput", "-v", "0")
        s.run("manage.py", "createcachetable")
        s.start("web", "-m", "gunicorn", "tests.e2e.gate_procs:application", "--bind", f"127.0.0.1:{s.port}",
                "--workers", "2", "--threads", "4", "--graceful-timeout", "2")
        s.start("worker-1", "-m", "tests.e2e.gate_procs", "worker")
        s.start("worker-2", "-m", "tests.e2e.gate_procs", "worker")
        assert wait_for_http(f"{s.base}/healthz", describe=lambda: f"gunicorn did not start\n{s.logs()}").status_code == 200
        yield s
    finally:
        s.stop()


def test_the_input_stays_usable_and_two_cards_progress_at_once(browser: Browser, stack, tmp_path):
    session_key = stack.run("-m", "tests.e2e.gate_procs", "setup", "ada").splitlines()[-1]
    (stack.gate / "block").touch()
    context = browser.new_context(base_url=stack.base)
    context.add_cookies([{"name": "sessionid", "value": session_key, "url": stack.base}])
    page = context.new_page()
    try:
        page.goto("/chats/")
        page.click("#new-chat")
        page.wait_for_load_state()  # the composer's keys work once app.js has run
        box = page.locator("#message-input")

        box.fill("/image a red fox")
        box.press("Enter")
        expect(box).to_have_value("")  # answered at once: the job is queued, not run inside the request
        box.fill("/image a blue owl")  # create another while the first is still being made
        box.press("Enter")
        expect(box).to_have_value("")
        expect(box).to_be_editable()

        running = page.locator(".gen-card.gen-running")
        expect(running).to_have_count(2, timeout=20_000)  # two workers: both run at the same time
        for i in range(2):
            card = running.nth(i)
            expect(card.locator(".gen-percent")).to_have_text("40%", timeout=10_000)
            expect(card.locator("progress")).to_have_attribute("value", "40")
            expect(card.locator(".gen-preview img")).to_be_visible()
        previews = page.locator(".gen-preview img")
        for _ in range(100):  # not wait_for_function: the page CSP forbids eval
            if previews.evaluate_all("imgs => imgs.length === 2 && imgs.every(i => i.complete && i.naturalWidth)"):
                break
            page.wait_for_timeout(50)
        assert previews.evaluate_all("imgs => imgs.map(i => i.naturalWidth)") == [384, 384]
        box.fill("still typing while both run")  # the box keeps working while the cards poll
        expect(box).to_have_value("still typing while both run")
        page.screenshot(path=str(tmp_path / "parallel-cards-running.png"), full_page=True)

        (stack.gate / "block").unlink()
        expect(page.locator(".gen-card.gen-succeeded")).to_have_count(2, timeout=20_000)
        expect(page.locator(".gen-preview")).to_have_count(0)
        expect(page.locator(".gen-card.gen-succeeded .gen-image img")).to_have_count(2)
        page.screenshot(path=str(tmp_path / "parallel-cards-done.png"), full_page=True)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{stack.logs()}") from None
    finally:
        context.close()
    assert not list((tmp_path / "media").glob("previews/*/*")), "previews are deleted once the images are stored"
