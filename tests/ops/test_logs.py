"""Structured logs: one JSON line per generation, the web request's id in the worker's lines, no prompt or key."""

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from chats.models import Chat
from images.models import Generation
from ops.logs import JsonFormatter, RequestIdFilter
from profiles.models import ApiKey, ImageProfile


@pytest.fixture
def json_lines():
    """What the console handler writes under LOG_FORMAT=json (same filter and formatter), as parsed dicts."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.mark.django_db(transaction=True)
def test_the_request_id_goes_from_the_web_request_to_the_workers_generation_line(
    alice, alice_client, settings, json_lines, fake_provider
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    key = ApiKey(owner=alice, provider="openai")
    key.set_secret("sk-proj-SECRETSECRET1234567890")
    key.save()
    ImageProfile.objects.create(owner=alice, name="fake", provider="fake", is_default=True, api_key=key)
    chat = Chat.objects.create(owner=alice)
    prompt = "a very private lighthouse at dusk"
    response = alice_client.post(f"/chats/{chat.pk}/messages/", {"content": f"/image {prompt}"},
                                 HTTP_X_REQUEST_ID="req-4f2a9c")
    assert response["X-Request-ID"] == "req-4f2a9c"
    assert Generation.objects.get().status == "queued"

    call_command("worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)  # another "process"

    lines = [line for line in json_lines() if line.get("event") == "generation_finished"]
    assert len(lines) == 1, lines
    line = lines[0]
    generation = Generation.objects.get()
    assert line["request_id"] == "req-4f2a9c"
    assert line["level"] == "INFO"
    assert {k: line[k] for k in ("generation_id", "user_id", "provider", "model", "status", "attempts")} == {
        "generation_id": generation.pk, "user_id": alice.pk, "provider": "fake", "model": "fake-1",
        "status": "succeeded", "attempts": 1,
    }
    assert line["duration_s"] >= 0 and "cost_usd" in line and line["prompt_chars"] == len(prompt)
    everything = json.dumps(json_lines())
    assert "lighthouse" not in everything and "SECRETSECRET" not in everything


@pytest.mark.django_db
def test_a_canceled_generation_gets_its_line_too(alice, json_lines, django_capture_on_commit_callbacks):
    from images.services import generation_cancel

    generation = Generation.objects.create(owner=alice, provider="offline", prompt="x")
    with django_capture_on_commit_callbacks(execute=True):
        assert generation_cancel(generation=generation)
    (line,) = [line for line in json_lines() if line.get("event") == "generation_finished"]
    assert line["status"] == "canceled" and line["generation_id"] == generation.pk


def test_a_bad_incoming_request_id_is_replaced(client, db):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="<script>\nnope")
    assert response["X-Request-ID"] != "<script>\nnope" and len(response["X-Request-ID"]) == 32


def test_log_format_json_makes_the_console_write_json_lines(tmp_path):
    """The real settings, in a fresh process: LOG_FORMAT=json turns every console line into a JSON object."""
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('imagegen.test').warning('hello %s', 'there', extra={'generation_id': 5})"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "imagegen_site.settings", "LOG_FORMAT": "json",
           "IMAGEGEN_DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["message"] == "hello there" and line["level"] == "WARNING" and line["generation_id"] == 5
    assert line["request_id"] == "-" and line["logger"] == "imagegen.test"
