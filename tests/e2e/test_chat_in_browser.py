import pytest
from playwright.sync_api import Page, expect

from images.models import GeneratedImage

pytestmark = pytest.mark.browser


def log_in(page: Page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    expect(page.locator("#new-chat")).to_be_visible()


def test_image_command_shows_the_image_in_the_chat(page: Page, django_user_model, tmp_path, base_url):
    django_user_model.objects.create_user("ada", password="ada-pass-123")
    log_in(page, "ada", "ada-pass-123")
    page.click("#new-chat")
    page.wait_for_load_state()  # the composer's keys work once app.js has run
    page.fill("#message-input", "/image a watercolour fox at dawn")
    page.keyboard.press("Enter")

    expect(page.locator(".message-user .bubble")).to_have_text("/image a watercolour fox at dawn")
    image = page.locator(".gen-succeeded .gen-image img")
    expect(image).to_be_visible(timeout=15_000)
    page.wait_for_function("document.querySelector('.gen-succeeded .gen-image img').complete")
    assert image.evaluate("img => img.naturalWidth") == 1024
    expect(page.locator(".used-prompt")).to_contain_text("Image created • a watercolour fox at dawn")
    expect(page.locator(".disclaimer")).to_have_text("Offline sketch – placeholder, not AI")
    expect(page.locator("#message-input")).to_have_value("")
    # The first message names the chat, in the header and the sidebar, without a reload.
    expect(page.locator("#chat-title")).to_have_text("a watercolour fox at dawn")
    expect(page.locator(".chat-link[aria-current=page]")).to_have_text("a watercolour fox at dawn")

    # Hovering shows Download; the link opens the full-size file in a new tab.
    page.hover(".gen-image")
    expect(page.locator(".gen-actions a[download]")).to_be_visible()
    assert page.locator(".gen-image > a").get_attribute("target") == "_blank"

    # Reloading shows the same image: it is persisted.
    page.reload()
    expect(page.locator(".gen-succeeded .gen-image img")).to_be_visible()
    assert GeneratedImage.objects.count() == 1
    page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)


def test_bad_input_shows_an_error_card_and_nothing_is_lost(page: Page, django_user_model):
    django_user_model.objects.create_user("ada", password="ada-pass-123")
    log_in(page, "ada", "ada-pass-123")
    page.click("#new-chat")
    page.wait_for_load_state()  # the composer's keys work once app.js has run
    page.fill("#message-input", "/image --n 2")
    page.keyboard.press("Enter")
    expect(page.locator(".error-card")).to_contain_text("Tell me what to draw: /image <prompt>")

    page.fill("#message-input", "/image a fox --zoom 3")
    page.keyboard.press("Enter")
    expect(page.locator(".error-card").nth(1)).to_contain_text("Unknown option --zoom")

    # Shift+Enter adds a line instead of sending.
    page.fill("#message-input", "first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    expect(page.locator("#message-input")).to_have_value("first line\nsecond line")


def test_the_gallery_shows_thumbnails_and_a_detail_page(page: Page, django_user_model):
    django_user_model.objects.create_user("ada", password="ada-pass-123")
    log_in(page, "ada", "ada-pass-123")
    page.click("#new-chat")
    page.wait_for_load_state()  # the composer's keys work once app.js has run
    page.fill("#message-input", "/image a lighthouse in a storm --ar 16:9 --seed 7")
    page.keyboard.press("Enter")
    expect(page.locator(".gen-succeeded")).to_be_visible(timeout=15_000)
    page.goto("/gallery/")
    thumb = page.locator(".gallery-item img").first
    expect(thumb).to_be_visible()
    page.wait_for_function("[...document.querySelectorAll('.gallery-item img')].every(i => i.complete)")
    assert thumb.evaluate("img => img.naturalWidth") == 512
    page.click(".gallery-item")
    expect(page.locator(".details")).to_contain_text("1344 × 768")
    expect(page.locator(".details")).to_contain_text("7")


def test_a_first_message_answered_before_the_sidebar_loads_still_names_the_chat(page: Page, django_user_model,
                                                                                  base_url):
    """The sidebar's list loads after the page. Here its answer is held back until the first message has come back
    (and is the one from before the message, titled "New chat"): no console error, and the new title still lands."""
    import re

    from chats.models import Chat

    from .ui import Guard

    ada = django_user_model.objects.create_user("ada", password="ada-pass-123")
    chat = Chat.objects.create(owner=ada)
    log_in(page, "ada", "ada-pass-123")
    guard = Guard(page, base_url)
    held = []
    page.route(re.compile(r".*/chats/\?current=\d+$"), lambda route: held.append((route, route.fetch())))
    page.goto(chat.get_absolute_url())
    page.wait_for_load_state()
    expect(page.locator("#chat-list-items[aria-busy=true]")).to_have_count(1)  # the list has not arrived
    page.fill("#message-input", "/image a lighthouse at night")
    page.keyboard.press("Enter")
    expect(page.locator("#chat-title")).to_have_text("a lighthouse at night")
    expect(page.locator(".gen-succeeded")).to_be_visible(timeout=15_000)
    assert len(held) == 1
    route, stale = held[0]
    assert "New chat" in stale.text()  # answered before the message: the old title
    route.fulfill(response=stale)
    expect(page.locator(".chat-link[aria-current=page]")).to_have_text("a lighthouse at night")
    guard.check("first message before the sidebar")
