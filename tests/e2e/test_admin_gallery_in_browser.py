"""The admin's image changelist in a real browser: a grid of thumbnails that load, and an action on a chosen tile."""

import pytest
from playwright.sync_api import Page, expect

from images.models import GeneratedImage
from tests.images.conftest import create_image, image_bytes

pytestmark = pytest.mark.browser


def test_the_image_changelist_is_a_gallery_staff_can_act_on(page: Page, django_user_model, tmp_path):
    django_user_model.objects.create_superuser("root", password="root-pass-123")
    alice = django_user_model.objects.create_user("alice", password="alice-pass-123")
    for i, prompt in enumerate(["a red fox", "an owl at night", "a lighthouse"]):
        create_image(alice, prompt=prompt, data=image_bytes(colour=(60 * i, 120, 200), size=(300, 200)))

    page.goto("/admin/login/?next=/admin/images/generatedimage/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "root-pass-123")
    page.click("input[type=submit]")

    thumbs = page.locator("#result_list img.admin-thumb")
    expect(thumbs).to_have_count(3)
    for i in range(3):  # loaded through the admin's own route: staff see other users' thumbnails
        expect(thumbs.nth(i)).to_have_js_property("complete", True)
        assert thumbs.nth(i).evaluate("img => img.naturalWidth") > 0
    # tiles, not table rows: the three sit side by side on one line
    tops = {round(thumbs.nth(i).bounding_box()["y"]) for i in range(3)}
    assert len(tops) == 1
    tile = page.locator("#result_list tbody tr").first
    expect(tile.locator("td.field-model_name")).to_have_text("sketch-1")
    expect(tile.locator("td.field-owner")).to_have_text("alice")
    page.screenshot(path=str(tmp_path / "admin-gallery.png"), full_page=True)

    page.fill("#searchbar", "owl")
    page.press("#searchbar", "Enter")
    expect(thumbs).to_have_count(1)
    page.check("#result_list input.action-select")
    page.select_option("select[name=action]", "rebuild_thumbnails")
    page.click("button[name=index]")
    expect(page.locator(".messagelist")).to_contain_text("Queued 1 thumbnail(s) to be rebuilt by the worker.")
    assert GeneratedImage.objects.count() == 3
