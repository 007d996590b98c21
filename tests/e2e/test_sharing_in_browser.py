"""Share links in Chromium: the owner creates a link from the image page, a stranger opens it in a fresh context
(no cookies), a signed-in user saves a copy, and after "Revoke" the same link is a 404."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Browser, BrowserContext, Page, expect

from chats.models import Chat
from images.models import GeneratedImage
from tests.images.conftest import create_image, image_bytes

pytestmark = pytest.mark.browser


def log_in(context: BrowserContext, base_url: str, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": base_url}])


def images_loaded(page: Page, selector: str) -> bool:
    for _ in range(100):  # not wait_for_function: the page CSP forbids eval
        if page.locator(selector).evaluate_all("imgs => imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth)"):
            return True
        page.wait_for_timeout(50)
    return False


def test_share_open_in_a_fresh_context_save_and_revoke(page: Page, context: BrowserContext, browser: Browser,
                                                        base_url, django_user_model, tmp_path):
    ada = django_user_model.objects.create_user("ada", password="ada-pass-123")
    bea = django_user_model.objects.create_user("bea", password="bea-pass-123")
    chat = Chat.objects.create(owner=ada, title="Private planning chat")
    fox = create_image(ada, prompt="a watercolour fox at dawn", chat=chat, data=image_bytes(size=(320, 240)))
    log_in(context, base_url, ada)

    page.goto(f"/gallery/{fox.pk}/")
    page.click("#share-button")
    expect(page.locator("#share-image.show")).to_be_visible()  # Bootstrap adds .show once the collapse has opened
    page.fill("#share-form-image-title", "Fox study")
    page.select_option("#share-form-image-expiry", "7")
    page.click("#share-form-image button[type=submit]")
    page.wait_for_url("**/gallery/shares/**", wait_until="commit")
    expect(page.locator(".share-table tbody tr")).to_have_count(1, timeout=10_000)
    link = page.locator(".share-link").input_value()
    assert link.startswith(f"{base_url}/s/") and len(link.rsplit("/s/", 1)[1].strip("/")) >= 43
    page.screenshot(path=str(tmp_path / "share-list.png"), full_page=True)

    stranger = browser.new_context()  # no cookies: a person who only has the link
    visitor = stranger.new_page()
    visitor.goto(link)
    expect(visitor.locator("#shared-heading")).to_have_text("Fox study")
    expect(visitor.locator(".shared-prompt")).to_have_text("a watercolour fox at dawn")
    assert images_loaded(visitor, ".shared-image img")
    body = visitor.locator("body").inner_text()
    assert "ada" not in body and "Private planning chat" not in body
    expect(visitor.locator("text=Sign in to save")).to_be_visible()
    visitor.screenshot(path=str(tmp_path / "shared-page.png"), full_page=True)

    other = browser.new_context()
    log_in(other, base_url, bea)
    bea_page = other.new_page()
    bea_page.goto(link)
    bea_page.click(".shared-save")
    expect(bea_page.locator(".alert-success")).to_contain_text("Saved to your gallery")
    copy = GeneratedImage.objects.get(owner=bea)
    assert bea_page.url.endswith(f"/gallery/{copy.pk}/")
    expect(bea_page.locator("#prompt-text")).to_have_text("a watercolour fox at dawn")
    other.close()

    page.on("dialog", lambda dialog: dialog.accept())  # "Revoke this link?"
    page.click(".share-revoke")
    expect(page.locator(".share-status")).to_have_text("revoked")
    response = visitor.goto(link)
    assert response is not None and response.status == 404
    thumb = visitor.request.get(link + f"thumbnails/{fox.pk}/")
    assert thumb.status == 404
    stranger.close()
