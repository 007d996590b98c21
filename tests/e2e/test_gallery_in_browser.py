import io
import json
import os
import re

import pytest
from playwright.sync_api import Page, expect
from PIL import Image

from chats.models import Chat
from images.models import GeneratedImage
from tests.images.conftest import create_image, image_bytes

pytestmark = pytest.mark.browser

SCREENSHOTS = os.environ.get("IMAGEGEN_SCREENSHOT_DIR", "")


def shot(page: Page, tmp_path, name: str) -> None:
    page.screenshot(path=os.path.join(SCREENSHOTS or str(tmp_path), name), full_page=True)


def wait_images_loaded(page: Page, selector: str) -> None:
    # Not page.wait_for_function: it evaluates a string, which the app's CSP (no 'unsafe-eval') forbids.
    for _ in range(100):
        if page.locator(selector).evaluate_all("imgs => imgs.every(i => i.complete && i.naturalWidth > 0)"):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"images {selector} did not load")


def log_in(page: Page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/chats/**")


def test_filter_favorite_detail_keyboard_download(page: Page, django_user_model, tmp_path):
    ada = django_user_model.objects.create_user("ada", password="ada-pass-123")
    chat = Chat.objects.create(owner=ada, title="Foxes")
    colours = [(200, 60, 40), (40, 120, 200), (60, 160, 80), (220, 180, 40)]
    oldest, fox, owl, newest = (
        create_image(ada, prompt=p, chat=chat, data=image_bytes(colour=c, size=(320, 240)), seed=i)
        for i, (p, c) in enumerate(zip(["a lighthouse", "a red fox", "an owl", "a harbour"], colours))
    )
    log_in(page, "ada", "ada-pass-123")

    page.goto("/gallery/")
    tiles = page.locator(".gallery-tile")
    expect(tiles).to_have_count(4)
    wait_images_loaded(page, ".gallery-item img")
    shot(page, tmp_path, "gallery.png")

    # Favorite two from the grid (the star on the tile), then filter by favorites.
    for image in (fox, owl):
        tile = page.locator(f'.gallery-tile[data-image-id="{image.pk}"]')
        tile.hover()
        tile.locator("[data-favorite-toggle]").click()
        expect(tile.locator("[data-favorite-toggle]")).to_have_attribute("aria-pressed", "true")
    assert set(GeneratedImage.objects.filter(is_favorite=True).values_list("pk", flat=True)) == {fox.pk, owl.pk}
    page.check("#id_favorites")  # filters apply on change
    page.wait_for_url("**favorites=1**")
    expect(tiles).to_have_count(2)
    expect(page.locator('[data-facet="favorites"]')).to_have_text("2")

    # Open the newest favorite; → goes to the next (older) favorite, ← back, Esc to the filtered gallery.
    page.locator(f'.gallery-tile[data-image-id="{owl.pk}"] .gallery-item').click()
    expect(page.locator("#prompt-text")).to_have_text("an owl")
    wait_images_loaded(page, ".detail-image")
    shot(page, tmp_path, "detail.png")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#prompt-text")).to_have_text("a red fox")
    assert "favorites=1" in page.url
    page.keyboard.press("ArrowRight")  # the last favorite: nothing happens
    expect(page.locator("#prompt-text")).to_have_text("a red fox")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#prompt-text")).to_have_text("an owl")

    # Tags inline (htmx), then download the PNG with metadata.
    page.fill("#tags-input", "night, birds")
    page.keyboard.press("Enter")
    expect(page.locator("#image-tags .badge")).to_have_count(2)
    page.click(".detail-actions .dropdown-toggle")
    with page.expect_download() as info:
        page.click("#download-png")
    download = info.value
    meta = json.loads(Image.open(io.BytesIO(open(download.path(), "rb").read())).text["imagegen"])
    assert meta["prompt"] == "an owl" and download.suggested_filename.endswith(".png")

    # The reuse modal opens prefilled; Esc closes it (and does not leave the page).
    page.click("#reuse-button")
    expect(page.locator("#reuse-modal textarea[name=prompt]")).to_have_value("an owl")
    # Bootstrap ignores Esc while the modal is still sliding in; it focuses the dialog when it is done.
    expect(page.locator("#reuse-modal")).to_be_focused()
    shot(page, tmp_path, "reuse-modal.png")
    page.keyboard.press("Escape")
    expect(page.locator("#reuse-modal")).to_be_hidden()
    expect(page.locator("body")).not_to_have_class(re.compile("modal-open"))  # the backdrop has faded out
    expect(page.locator("#prompt-text")).to_have_text("an owl")

    page.keyboard.press("Escape")
    page.wait_for_url("**/gallery/?favorites=1")  # the default order is not spelled out
    expect(tiles).to_have_count(2)
    assert oldest.pk and newest.pk  # both outside the favorites filter


def test_bulk_select_and_delete(page: Page, django_user_model):
    ada = django_user_model.objects.create_user("ada", password="ada-pass-123")
    images = [create_image(ada, prompt=f"picture {i}") for i in range(3)]
    log_in(page, "ada", "ada-pass-123")
    page.goto("/gallery/")
    expect(page.locator("[data-needs-selection]").first).to_be_disabled()
    page.locator(f'.gallery-tile[data-image-id="{images[0].pk}"]').hover()
    page.locator(f'.gallery-tile[data-image-id="{images[0].pk}"] .tile-select').check()
    page.locator(f'.gallery-tile[data-image-id="{images[2].pk}"]').hover()
    page.locator(f'.gallery-tile[data-image-id="{images[2].pk}"] .tile-select').click(modifiers=["Shift"])
    expect(page.locator("#selected-count")).to_have_text("3")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button[value=delete]")
    expect(page.locator(".alert-success")).to_contain_text("Deleted 3 images.")
    assert not GeneratedImage.objects.exists()


def test_on_a_phone_the_images_come_before_the_filters(page: Page, django_user_model, base_url):
    from .ui import PHONE, Guard
    from .ui import log_in as log_in_fast

    ada = django_user_model.objects.create_user("ada", password="ada-pass-123")
    fox = create_image(ada, prompt="a fox", data=image_bytes(colour=(200, 90, 30)))
    create_image(ada, prompt="an owl", data=image_bytes(colour=(40, 90, 160)))
    GeneratedImage.objects.filter(pk=fox.pk).update(is_favorite=True)
    log_in_fast(page.context, base_url, ada)
    page.set_viewport_size(PHONE)
    guard = Guard(page, base_url)
    page.goto("/gallery/")
    # The first tile is on the first screen; the filters wait behind their button.
    tile = page.locator(".gallery-item").first
    expect(tile).to_be_visible()
    assert tile.bounding_box()["y"] < PHONE["height"] - 100
    expect(page.locator("#filter-form")).to_be_hidden()
    page.click("#filters-toggle")
    expect(page.locator("#id_favorites")).to_be_visible()

    # A choice applies at once; the panel is open again on the answer, with a way back to everything.
    page.check("#id_favorites")
    page.wait_for_url("**favorites=1**")
    expect(page.locator(".gallery-item")).to_have_count(1)
    expect(page.locator("#id_sort")).to_be_visible()
    expect(page.locator("#filters-toggle")).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#filters-toggle")).to_contain_text("Filters on")
    page.select_option("#id_sort", "oldest")
    page.wait_for_url("**sort=oldest**")
    expect(page.locator("#id_sort")).to_have_value("oldest")
    page.get_by_role("link", name="Clear filters").click()
    expect(page.locator(".gallery-item")).to_have_count(2)
    expect(page.locator("#filter-form")).to_be_hidden()  # a fresh visit starts folded
    guard.check("gallery on a phone")
