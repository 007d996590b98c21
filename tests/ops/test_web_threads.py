"""`manage.py serve`'s web processes are gunicorn gthread workers: a chat reply's event stream holds a thread, not a
whole process. Real processes: gunicorn started with serve's own command line and ONE process, a loopback chat model
that keeps the stream open, and a second request that must be answered while it is (with sync workers it waited
for the stream to end)."""

import http.server
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

from imagegen_site.management.commands import serve
from imagegen_site.management.commands.serve import web_command
from tests.processes import run_serve, stop_children, wait_for_http

ROOT = Path(__file__).resolve().parents[2]

# Run in a subprocess against the servers' database: a signed-in user, a chat whose model is the loopback server,
# and a chat reply waiting to be streamed (as a post of a plain message leaves it).
SETUP = """
import json, sys
import django
django.setup()
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from chats.models import Chat, ChatPreferences, Message

user = get_user_model().objects.create_user("streamer", password="streamer-pass-123")
ChatPreferences.objects.create(owner=user, llm_provider="ollama", llm_model="slow-model", llm_base_url=sys.argv[1])
chat = Chat.objects.create(owner=user, title="A slow answer")
Message.objects.create(chat=chat, role="user", content="tell me a long story")
reply = Message.objects.create(chat=chat, role="assistant", metadata={"reply": "pending"})
session = import_module(settings.SESSION_ENGINE).SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(json.dumps({"session": session.session_key, "chat": chat.pk, "reply": reply.pk}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlowChatModel(http.server.ThreadingHTTPServer):
    """An OpenAI-compatible /chat/completions that sends its first words, then holds the stream until released."""

    daemon_threads = True

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(handler) -> None:  # noqa: N805 - the server is `self` here
                handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
                handler.send_response(200)
                handler.send_header("Content-Type", "text/event-stream")
                handler.end_headers()

                def send(text: str) -> None:
                    chunk = {"choices": [{"delta": {"content": text}}]}
                    handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    handler.wfile.flush()

                send("Once upon a time")
                self.started.set()
                self.release.wait(timeout=30)
                send(", the end.")
                handler.wfile.write(b"data: [DONE]\n\n")
                handler.wfile.flush()

            def log_message(handler, *args) -> None:  # noqa: N805
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


@pytest.fixture
def model():
    server = SlowChatModel()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


def test_an_open_reply_stream_does_not_stall_a_one_process_web_server(tmp_path, model):
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("PROMETHEUS_MULTIPROC_DIR",)},
        "DJANGO_SETTINGS_MODULE": "imagegen_site.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "IMAGEGEN_DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": "web-threads-test-" + "x" * 50,
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "IMAGEGEN_PRIVATE_ALLOWLIST": f"127.0.0.1:{model.server_address[1]}",  # the loopback chat model
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    run("manage.py", "migrate", "--noinput", "-v", "0")
    made = json.loads(run("-c", SETUP, model.base_url))
    log = open(tmp_path / "web.log", "w")
    command = web_command(sys.executable, bind=f"127.0.0.1:{port}", web_workers=1, threads=4)
    assert command[command.index("--worker-class") + 1] == "gthread"
    web = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for_http(f"{base}/healthz", process=web,
                             describe=lambda: (tmp_path / "web.log").read_text()).status_code == 200

        browser = requests.Session()
        csrf = secrets.token_hex(16)
        browser.cookies.update({"sessionid": made["session"], "csrftoken": csrf})
        stream = browser.get(f"{base}/chats/messages/{made['reply']}/stream/", stream=True, timeout=30)
        assert stream.status_code == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
        lines = stream.iter_lines(decode_unicode=True)
        assert next(line for line in lines if line.startswith("data:")) == 'data: {"text": "Once upon a time"}'
        assert model.started.is_set() and not model.release.is_set()  # the stream is open, its thread waiting

        # The only web process is busy streaming; another request still gets its answer at once.
        started = time.monotonic()
        chats = browser.get(f"{base}/api/chats/", timeout=10)
        took = time.monotonic() - started
        assert chats.status_code == 200 and "A slow answer" in chats.text, (tmp_path / "web.log").read_text()
        assert took < 3, f"the chat list took {took:.1f} s while a stream was open"
        assert not model.release.is_set()  # the stream's words are still held back: it was open all along

        model.release.set()
        rest = list(lines)
        assert 'data: {"text": ", the end."}' in rest and "event: done" in rest
    finally:
        stop_children([web])
        log.close()


def test_serve_starts_the_web_with_the_one_command_line_and_threads_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("IMAGEGEN_WEB_THREADS", "3")
    started = run_serve(monkeypatch, tmp_path, ["--web-workers", "2"])
    web = next(c for c in started if "gunicorn" in c)
    bind = serve.Command().create_parser("manage.py", "serve").parse_args([]).bind
    assert web == web_command(sys.executable, bind=bind, web_workers=2, threads=3)  # the bench's too
    assert web[web.index("--worker-class") + 1] == "gthread" and web[web.index("--threads") + 1] == "3"
