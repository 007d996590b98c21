"""In Chromium: the chat model pickers' suggestions come from the person's own server when the model box is focused
and again when the provider changes, with no CSP complaint; free text still saves.

The server is a tiny OpenAI-compatible /v1/models on loopback, reached through the real outbound HTTP module
(allowlisted like a self-hosted Ollama)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Page, expect

from chats.models import ChatPreferences
from tests.e2e.test_chat_in_browser import log_in

pytestmark = pytest.mark.browser


class ModelListServer(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the stdlib's name
        assert self.path == "/v1/models"
        body = json.dumps({"object": "list", "data": [{"id": "story-1", "object": "model", "owned_by": "library"},
                                                      {"id": "story-2-vision", "object": "model",
                                                       "owned_by": "library"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def model_server(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), ModelListServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    settings.IMAGEGEN_PRIVATE_ALLOWLIST = [f"127.0.0.1:{port}"]
    yield f"http://127.0.0.1:{port}/v1"
    server.shutdown()


def test_the_default_model_box_suggests_the_servers_models(page: Page, django_user_model, model_server):
    user = django_user_model.objects.create_user("ada", password="ada-pass-123")
    ChatPreferences.objects.create(owner=user, llm_provider="custom", llm_base_url=model_server)
    problems = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    log_in(page, "ada", "ada-pass-123")
    page.goto("/settings/chat/")
    page.wait_for_load_state()
    options = page.locator("#chat-model-options option")
    expect(options).to_have_count(0)  # a custom server has no known default: nothing until asked
    page.focus("#id_llm_model")
    expect(options).to_have_count(2)
    expect(page.locator('#chat-model-options option[value="story-2-vision"]')).to_have_count(1)

    page.select_option("#id_llm_provider", "anthropic")  # no key: its known model, and a note saying why
    expect(page.locator('#chat-model-options option[value="claude-haiku-4-5"]')).to_have_count(1)
    expect(page.locator("#chat-model-list")).to_contain_text("Add an API key for Anthropic")

    page.select_option("#id_llm_provider", "custom")
    page.fill("#id_llm_model", "a-name-nobody-listed")
    page.click("#chat-preferences-form button[type=submit]")
    expect(page.locator("#id_llm_model")).to_have_value("a-name-nobody-listed")
    assert ChatPreferences.objects.get(owner=user).llm_model == "a-name-nobody-listed"
    assert not problems, problems
