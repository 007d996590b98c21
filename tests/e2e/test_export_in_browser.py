"""The detail page's "Convert and download": JPEG at a chosen quality and a smaller size, in a real browser."""

import io

import pytest
from playwright.sync_api import Page, expect
from PIL import Image

from tests.images.conftest import create_image, image_bytes

pytestmark = pytest.mark.browser


def test_convert_and_download_a_smaller_jpeg(page: Page, django_user_model, tmp_path):
    ada = django_user_model.objects.create_user("ada", password="ada-pass-123")
    image = create_image(ada, prompt="a lighthouse at dusk", data=image_bytes(size=(1600, 900)))
    page.goto("/accounts/login/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "ada-pass-123")
    page.click("button[type=submit]")
    page.goto(f"/gallery/{image.pk}/")

    page.click("#download-more")
    expect(page.locator("#export-form")).to_be_visible()
    page.select_option("#export-as", "jpeg")
    page.fill("#export-quality", "80")
    page.select_option("#export-size", "512")
    page.screenshot(path=str(tmp_path / "export-menu.png"), full_page=True)
    with page.expect_download() as info:
        page.click("#export-download")
    download = info.value
    assert download.suggested_filename.endswith("_512px.jpg")
    img = Image.open(io.BytesIO(open(download.path(), "rb").read()))
    assert img.format == "JPEG" and img.size == (512, 288)
    assert img.getexif()[0x010E] == "a lighthouse at dusk"  # provenance kept
