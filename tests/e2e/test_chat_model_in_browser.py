"""In Chromium: a chat model's reply streams into the page word by word; /image --ar 16:9 is landscape; the image
modal generates and downloads without adding anything to the chat.

The chat model is a tiny OpenAI-compatible server on loopback that sends its answer in timed pieces, reached
through the real outbound HTTP module (allowlisted like a self-hosted Ollama)."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Page, expect

from chats.models import Chat, ChatPreferences, Message
from tests.e2e.test_chat_in_browser import log_in

pytestmark = pytest.mark.browser
PIECES = ["Once upon a time, ", "a lighthouse keeper ", "painted the storm."]
PAUSE_S = 1.0


class SlowChatModel(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - the stdlib's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert body["stream"] is True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in PIECES:
            chunk = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": piece}}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
            time.sleep(PAUSE_S)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def log_message(self, *args):
        pass


@pytest.fixture
def chat_model_server(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowChatModel)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    settings.IMAGEGEN_PRIVATE_ALLOWLIST = [f"127.0.0.1:{port}"]
    yield f"http://127.0.0.1:{port}/v1"
    server.shutdown()


def test_a_reply_streams_in_as_it_arrives(page: Page, django_user_model, chat_model_server, tmp_path):
    user = django_user_model.objects.create_user("ada", password="ada-pass-123")
    ChatPreferences.objects.create(owner=user, llm_provider="custom", llm_model="story-1",
                                   llm_base_url=chat_model_server)
    log_in(page, "ada", "ada-pass-123")
    page.click("#new-chat")
    page.wait_for_load_state()  # the composer's keys work once app.js has run
    expect(page.locator("#chat-model-button")).to_contain_text("OpenAI-compatible server · story-1")
    page.fill("#message-input", "tell me a story")
    started = time.monotonic()
    page.keyboard.press("Enter")

    live = page.locator(".streaming .stream-text")
    expect(live).to_have_text(PIECES[0].strip(), timeout=5_000)  # the first words, while the rest is coming
    first_seen = time.monotonic() - started
    expect(page.locator(".streaming")).to_have_count(1)  # still streaming: the page did not wait for the end
    page.screenshot(path=str(tmp_path / "streaming.png"))
    final = page.locator(".message-assistant .bubble-assistant").last
    expect(final).to_have_text("".join(PIECES).strip(), timeout=10_000)
    done = time.monotonic() - started
    expect(page.locator(".streaming")).to_have_count(0)
    assert first_seen < done - PAUSE_S, (first_seen, done)  # the first piece came well before the last
    assert Message.objects.get(role="assistant").content == "".join(PIECES)

    page.reload()  # saved: the reply is there after a reload, without asking the model again
    expect(page.locator(".message-assistant .bubble-assistant").last).to_have_text("".join(PIECES).strip())


def test_landscape_image_then_the_modal_makes_and_downloads_one_without_touching_the_chat(
        page: Page, django_user_model, tmp_path):
    django_user_model.objects.create_user("ada", password="ada-pass-123")
    log_in(page, "ada", "ada-pass-123")
    page.click("#new-chat")
    page.wait_for_load_state()  # the composer's keys work once app.js has run
    page.fill("#message-input", "/image a lighthouse in a storm --ar 16:9")
    page.keyboard.press("Enter")
    image = page.locator(".gen-succeeded .gen-image img")
    expect(image).to_be_visible(timeout=15_000)
    page.wait_for_function("document.querySelector('.gen-succeeded .gen-image img').complete")
    width, height = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert width > height, (width, height)
    chat = Chat.objects.get()
    messages_before = chat.messages.count()

    page.click("#chat-generate-image-button")
    expect(page.locator("#image-gen-modal")).to_be_visible()
    page.fill("#image-gen-prompt", "a red kite over the dunes")
    page.select_option("#image-gen-ar", "16:9")
    page.select_option("#image-gen-style", "sketch")
    page.click("#image-gen-submit")
    modal_image = page.locator("#image-gen-preview img")
    expect(modal_image).to_be_visible(timeout=15_000)
    expect(page.locator("#image-gen-preview .refined-prompt")).to_contain_text("pencil sketch")
    page.screenshot(path=str(tmp_path / "modal.png"))
    with page.expect_download() as download_info:
        page.click("#image-gen-download")
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and saved.stat().st_size > 1000
    page.click("#image-gen-clear")
    expect(page.locator("#image-gen-preview img")).to_have_count(0)

    assert chat.messages.count() == messages_before  # not saved into the conversation
    page.keyboard.press("Escape")
    page.reload()
    expect(page.locator(".gen-card")).to_have_count(1)
