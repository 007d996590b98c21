"""SECURITY.md T48: exactly one HTTP call per attempt. The task's retry loop (images/services.py _fail_or_retry, at most
3 attempts) is the only one: no retries hidden in requests/urllib3 adapters or provider code.

Counted at a real server on 127.0.0.1 (allowlisted, as an operator allowlists a self-hosted server), through the real
provider code, imagegen_site/http.py and urllib3 — no `responses`, which would sit above the adapter's retries and see
nothing of them.
"""

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from imagegen_site import http
from images.jobs import MAX_ATTEMPTS
from images.models import Generation
from images.services import generation_run, generation_start
from profiles.models import ApiKey, ImageProfile


class CountingServer:
    """Counts every request by (method, path); answers with `mode`: "503", "429" or "drop" (read the request, close
    the connection without a word: the case urllib3's retries exist for)."""

    def __init__(self) -> None:
        self.seen: Counter = Counter()
        self.mode = "503"
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                server.seen[(self.command, self.path.split("?")[0])] += 1
                if server.mode == "drop":
                    self.close_connection = True
                    return
                status = int(server.mode)
                body = b'{"error": {"message": "busy", "type": "server_error"}}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if status == 429:
                    self.send_header("Retry-After", "1")
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = handle_any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(settings):
    s = CountingServer()
    settings.IMAGEGEN_PRIVATE_ALLOWLIST = [f"127.0.0.1:{s.port}"]
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": ["default"]}}
    settings.IMAGEGEN_MODERATION_API = False
    yield s
    s.close()


def openai_compatible(alice, port) -> ImageProfile:
    key = ApiKey(owner=alice, provider="openai", label="proxy")
    key.set_secret("sk-test-1234567890abcdef")
    key.save()
    return ImageProfile.objects.create(owner=alice, name="Proxy", provider="openai", model="gpt-image-1", api_key=key,
                                       base_url=f"http://127.0.0.1:{port}/v1")


def a1111(alice, port) -> ImageProfile:
    return ImageProfile.objects.create(owner=alice, name="Home", provider="automatic1111", model="sdxl",
                                       base_url=f"http://127.0.0.1:{port}")


PROFILES = {
    "openai": (openai_compatible, ("POST", "/v1/images/generations")),
    "automatic1111": (a1111, ("POST", "/sdapi/v1/txt2img")),
}


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["503", "429", "drop"])
@pytest.mark.parametrize("kind", list(PROFILES))
def test_t48_exactly_one_provider_call_per_attempt(alice, server, kind, mode):
    make_profile, generation_route = PROFILES[kind]
    server.mode = mode
    generation = generation_start(owner=alice, prompt="a lighthouse", profile=make_profile(alice, server.port))
    for attempt in range(1, MAX_ATTEMPTS + 1):
        generation_run(generation_id=generation.pk)  # the queue would hand it out again after the backoff
        generation.refresh_from_db()
        assert generation.attempts == attempt
        assert server.seen[generation_route] == attempt, (attempt, server.seen)
    assert generation.status == Generation.Status.FAILED  # three attempts, three calls, then it gives up
    assert generation.error_code in ("provider_error", "provider_rate_limited")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_t48_the_transport_never_retries_a_dropped_connection(server, method):
    """urllib3 would retry an idempotent GET whose connection dropped if the adapter allowed any retries."""
    server.mode = "drop"
    with pytest.raises(Exception) as raised:
        http.request(method, f"http://127.0.0.1:{server.port}/sdapi/v1/sd-models", timeout_total=5)
    assert getattr(raised.value, "code", "") == "provider_error" and raised.value.retryable
    assert server.seen[(method, "/sdapi/v1/sd-models")] == 1


def test_t48_the_pinned_adapter_is_built_without_retries():
    target = http.Target(scheme="https", host="api.openai.com", port=443, ip="93.184.215.14")
    retries = http.PinnedAdapter(target).max_retries
    assert (retries.total, retries.read) == (0, False)  # requests' Retry(0, read=False): no retry of any kind
