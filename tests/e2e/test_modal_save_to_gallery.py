"""In Chromium (issue 5): the image modal's image is not in the gallery until "Save to gallery" is pressed."""

import pytest
from playwright.sync_api import Page, expect

from images.models import GeneratedImage
from tests.e2e.test_chat_in_browser import log_in

pytestmark = pytest.mark.browser


def test_the_modal_image_joins_the_gallery_only_when_saved(page: Page, django_user_model, tmp_path):
    django_user_model.objects.create_user("ada", password="ada-pass-123")
    log_in(page, "ada", "ada-pass-123")
    page.click("#new-chat")
    page.wait_for_load_state()  # the composer's keys work once app.js has run
    page.click("#chat-generate-image-button")
    expect(page.locator("#image-gen-modal")).to_be_visible()
    page.fill("#image-gen-prompt", "a red kite over the dunes")
    page.click("#image-gen-submit")
    expect(page.locator("#image-gen-preview img")).to_be_visible(timeout=15_000)
    expect(page.locator("#image-gen-save")).to_be_visible()
    expect(page.locator("#image-gen-unsaved-note")).to_contain_text("deleted after a day")
    page.screenshot(path=str(tmp_path / "modal-unsaved.png"))
    image = GeneratedImage.objects.get()
    assert not image.in_gallery

    gallery = page.context.new_page()  # not in the gallery yet
    gallery.goto("/gallery/")
    expect(gallery.locator(f'a[href="/gallery/{image.pk}/"]')).to_have_count(0)

    page.click("#image-gen-save")
    expect(page.locator("#image-gen-saved")).to_contain_text("Saved to your gallery")
    expect(page.locator("#image-gen-save")).to_be_hidden()
    page.screenshot(path=str(tmp_path / "modal-saved.png"))
    image.refresh_from_db()
    assert image.in_gallery and image.source == "modal"
    gallery.reload()
    expect(gallery.locator(f'a[href="/gallery/{image.pk}/"]').first).to_be_visible()
