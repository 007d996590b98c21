"""LOG_FORMAT=json covers gunicorn's access log too: a real gunicorn started with serve's command line writes one
JSON object per request, with the app's request id and without the query string."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from cryptography.fernet import Fernet

from imagegen_site.management.commands.serve import web_command
from tests.processes import stop_children, wait_for_http

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_access_log_lines_are_json_without_query_strings(tmp_path, monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "json")  # serve reads it when it builds the command line
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
        "DJANGO_SETTINGS_MODULE": "imagegen_site.settings", "LOG_FORMAT": "json",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "IMAGEGEN_DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": "access-log-test-" + "x" * 50, "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PYTHONPATH": str(ROOT),
    }
    command = web_command(sys.executable, bind=f"127.0.0.1:{port}", web_workers=1, threads=2)
    assert command[command.index("--logger-class") + 1] == "ops.gunicorn_logging.JsonAccessLogger"
    log_path = tmp_path / "web.log"
    with open(log_path, "w") as log:
        web = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            response = wait_for_http(f"http://127.0.0.1:{port}/healthz?token=secret-in-a-query", process=web,
                                     describe=log_path.read_text)
            deadline = time.monotonic() + 10
            while '"gunicorn.access"' not in log_path.read_text() and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            stop_children([web])
    text = log_path.read_text()
    assert "secret-in-a-query" not in text
    entries = [json.loads(line) for line in text.splitlines() if '"gunicorn.access"' in line]
    assert entries, text
    entry = entries[0]
    assert entry["path"] == "/healthz" and entry["method"] == "GET" and entry["status"] == response.status_code
    assert entry["request_id"] == response.headers["X-Request-ID"] and entry["query_chars"] == len("token=secret-in-a-query")
    assert entry["level"] == "INFO" and entry["duration_ms"] >= 0 and entry["bytes"] == len(response.content)


def test_plain_logs_keep_gunicorns_own_access_log(monkeypatch):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    assert "--logger-class" not in web_command(sys.executable, bind="127.0.0.1:1", web_workers=1, threads=1)
