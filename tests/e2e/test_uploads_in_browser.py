"""Issue 12 in the browser: upload from the gallery, a refused import keeps the address, the type filter."""

import os

import pytest
from playwright.sync_api import Page, expect

from images.models import GeneratedImage
from tests.images.conftest import create_image, image_bytes

pytestmark = pytest.mark.browser

SCREENSHOTS = os.environ.get("IMAGEGEN_SCREENSHOT_DIR", "")


def shot(page: Page, tmp_path, name: str) -> None:
    page.screenshot(path=os.path.join(SCREENSHOTS or str(tmp_path), name), full_page=True)


def log_in(page: Page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/chats/**")


def test_upload_import_error_and_type_filter(page: Page, django_user_model, tmp_path):
    ada = django_user_model.objects.create_user("ada", password="ada-pass-123")
    create_image(ada, prompt="a lighthouse", data=image_bytes(colour=(40, 120, 200), size=(320, 240)))
    log_in(page, "ada", "ada-pass-123")

    page.goto("/gallery/")
    expect(page.locator("#generate-button")).to_be_visible()
    expect(page.locator(".gallery-tile")).to_have_count(1)

    # Upload: the gallery's dialog, a real file, a type.
    page.click("#upload-button")
    expect(page.locator("#upload-modal")).to_be_visible()
    shot(page, tmp_path, "upload-dialog.png")
    page.set_input_files("#upload-file", files=[{"name": "knight.png", "mimeType": "image/png",
                                                 "buffer": image_bytes(colour=(200, 60, 40), size=(300, 200))}])
    page.fill("#upload-description", "my knight")
    page.select_option("#upload-type", "character")
    page.click("#upload-submit")
    page.wait_for_url("**/gallery/*/")
    expect(page.locator(".source-badge")).to_have_text("Uploaded")
    expect(page.locator("#prompt-text")).to_have_text("my knight")
    expect(page.locator("#image-type-select")).to_have_value("character")
    uploaded = GeneratedImage.objects.get(source="upload")
    assert (uploaded.width, uploaded.height, uploaded.image_type) == (300, 200, "character")
    shot(page, tmp_path, "uploaded-detail.png")

    # Import from a private address: refused, the reason shown, the typed address kept.
    page.goto("/gallery/")
    page.click("#import-button")
    expect(page.locator("#import-modal")).to_be_visible()
    page.fill("#import-url", "https://127.0.0.1/secret.png")
    page.click("#import-submit")
    expect(page.locator(".import-error")).to_contain_text("Address not allowed")
    expect(page.locator("#import-url")).to_have_value("https://127.0.0.1/secret.png")
    shot(page, tmp_path, "import-refused.png")
    assert GeneratedImage.objects.filter(source="import").count() == 0

    # The type filter: counts in the options, and choosing one narrows the grid at once.
    page.goto("/gallery/")
    expect(page.locator(".gallery-tile")).to_have_count(2)
    expect(page.locator("#id_type option[value=character]")).to_have_text("Character (1)")
    page.select_option("#id_type", "character")
    page.wait_for_url("**type=character**")
    expect(page.locator(".gallery-tile")).to_have_count(1)
    expect(page.locator(f'.gallery-tile[data-image-id="{uploaded.pk}"]')).to_be_visible()
    expect(page.locator("#id_source option[value=upload]")).to_have_text("Uploaded (1)")
    shot(page, tmp_path, "type-filter.png")
