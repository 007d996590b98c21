"""The Images landing page in Chromium: style tiles with previews, pickers by keyboard, Create opens a new chat with
the image, and the recent images lead back to it."""

import pytest
from playwright.sync_api import Page, expect

from chats.models import Chat
from images.models import Generation

from .ui import PHONE, Guard, axe_violations, log_in, shot, wait_images

pytestmark = pytest.mark.browser


def test_create_from_the_images_page_opens_a_new_chat_with_the_image(page: Page, django_user_model, base_url, tmp_path):
    ada = django_user_model.objects.create_user("ada", password="ada-pass-123")
    log_in(page.context, base_url, ada)
    guard = Guard(page, base_url)
    page.goto("/images/")
    expect(page.locator("#recent-empty")).to_be_visible()
    expect(page.locator("#offline-note")).to_contain_text("Add an API key")
    wait_images(page, ".style-tile img")
    assert page.locator(".style-tile img").first.evaluate("img => img.naturalWidth") == 160
    assert axe_violations(page) == []
    shot(page, tmp_path, "images-landing.png")

    # Everything by keyboard: type, then Tab into the style radios and move with the arrow keys.
    page.fill("#id_prompt", "a lighthouse in a storm")
    page.focus("#style-none")
    page.keyboard.press("ArrowRight")  # the next style: Watercolour
    expect(page.locator("#style-watercolour")).to_be_checked()
    page.click("label[for=ar-169]")
    page.click("label[for=n-2]")
    page.click("#create-image")

    page.wait_for_url("**/chats/*/")
    expect(page.locator(".message-user .bubble")).to_have_text(
        "/image a lighthouse in a storm --ar 16:9 --n 2 --style watercolour")
    expect(page.locator(".gen-succeeded .gen-image img")).to_have_count(2, timeout=15_000)
    expect(page.locator(".chat-title")).to_have_text("a lighthouse in a storm")
    generation = Generation.objects.get()
    assert generation.parameters["style"] == "watercolour" and generation.chat == Chat.objects.get()

    # Back on the landing page, the new images are the recent ones and lead to their chat.
    page.goto("/images/")
    expect(page.locator(".recent-grid .gallery-item")).to_have_count(2)
    page.locator(".recent-grid .gallery-item").first.click()
    page.wait_for_url(f"**/chats/{generation.chat_id}/#generation-{generation.pk}")
    guard.check("images landing flow")


def test_bad_input_keeps_the_prompt_and_the_page_works_on_a_phone(page: Page, django_user_model, base_url, tmp_path):
    ada = django_user_model.objects.create_user("ada", password="ada-pass-123")
    log_in(page.context, base_url, ada)
    page.set_viewport_size(PHONE)
    guard = Guard(page, base_url)
    page.goto("/images/")
    page.fill("#id_prompt", "a fox --zoom 3")
    page.click("#create-image")
    expect(page.locator("#images-form-error")).to_contain_text("Unknown option --zoom")
    expect(page.locator("#id_prompt")).to_have_value("a fox --zoom 3")
    assert not Chat.objects.exists()
    # Nothing is wider than the phone's screen.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    wait_images(page, ".style-tile img")
    assert axe_violations(page) == []
    shot(page, tmp_path, "images-landing-phone.png")
    guard.check("images landing on a phone")
