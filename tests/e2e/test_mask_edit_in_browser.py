"""Masked edits from the gallery, in Chromium: open the Edit form's "Paint the area to change", paint a stroke with the
brush (pointer events), paint a second and rub it out with the eraser, send the instruction; the edit runs on the
built-in offline renderer (no key) and changes only the painted area, and the chat shows the new image."""

from __future__ import annotations

import io

import pytest
from django.core.files.storage import default_storage
from PIL import Image
from playwright.sync_api import Page, expect

from images.models import Generation
from images.storage import is_own_mask_name
from tests.images.conftest import create_image, image_bytes

from .ui import DESKTOP, Guard, axe_violations, log_in, shot, wait_images

pytestmark = pytest.mark.browser

SIZE = (256, 192)
BLUE = (40, 160, 200)


def stroke(page: Page, box: dict, y: float, x0: float = 0.1, x1: float = 0.4) -> None:
    """Drag the mouse across the canvas at height `y` from `x0` to `x1` (fractions of its box)."""
    page.mouse.move(box["x"] + box["width"] * x0, box["y"] + box["height"] * y)
    page.mouse.down()
    for step in range(1, 11):
        x = x0 + (x1 - x0) * step / 10
        page.mouse.move(box["x"] + box["width"] * x, box["y"] + box["height"] * y)
    page.mouse.up()


def picture(name: str) -> Image.Image:
    with default_storage.open(name) as f:
        return Image.open(f).convert("RGB")


def test_paint_the_area_to_change_and_edit(page: Page, django_user_model, base_url, tmp_path):
    ada = django_user_model.objects.create_user("ada", password="ada-pass-123")
    source = create_image(ada, prompt="a blue sky", data=image_bytes(colour=BLUE, size=SIZE))
    log_in(page.context, base_url, ada)
    page.set_viewport_size(DESKTOP)
    guard = Guard(page, base_url)
    page.goto(f"{base_url}{source.get_absolute_url()}")
    page.wait_for_load_state()

    page.click("#mask-painter summary")
    canvas = page.locator("#mask-canvas")
    expect(canvas).to_be_visible()
    wait_images(page, ".mask-source")
    page.fill("#mask-size", "30")
    box = canvas.bounding_box()
    stroke(page, box, y=0.2)  # kept
    stroke(page, box, y=0.6)  # rubbed out below
    page.click("#mask-eraser")
    expect(page.locator("#mask-eraser")).to_have_attribute("aria-pressed", "true")
    page.fill("#mask-size", "80")
    stroke(page, box, y=0.6, x0=0.02, x1=0.5)
    assert axe_violations(page) == []
    shot(page, tmp_path, "mask-painted.png")

    page.fill("#edit-instruction", "make it sepia")
    page.click("#edit-form button[type=submit]")
    page.wait_for_url("**/chats/**")
    expect(page.locator(".gen-succeeded")).to_have_count(1, timeout=15_000)
    wait_images(page, ".gen-image img")

    generation = Generation.objects.get(edit_of=source)
    assert is_own_mask_name(generation.parameters["mask"], ada.pk)
    before, after = picture(source.file), picture(generation.images.get().file)
    assert after.size == before.size == SIZE

    def at(fx: float, fy: float) -> tuple[int, int]:
        return int(SIZE[0] * fx), int(SIZE[1] * fy)

    assert after.getpixel(at(0.25, 0.2)) != BLUE  # painted: sepia there
    for spot in (at(0.25, 0.6), at(0.8, 0.2), at(0.8, 0.6)):  # erased, and never painted: as it was
        assert after.getpixel(spot) == BLUE, spot
    guard.check("masked edit")
