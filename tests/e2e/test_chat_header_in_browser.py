"""The chat page's header is one tidy row at every width (issue 9 follow-up): the title truncates with an ellipsis, the
buttons shrink to icons on narrow screens and the profile, gallery and delete actions fold into a "more" menu below
xl; nothing overflows, and every action still works from a phone."""

import pytest
from playwright.sync_api import Page, expect

from chats.models import Chat
from profiles.models import ImageProfile

from .ui import DESKTOP, PHONE, Guard, axe_violations, log_in, shot

pytestmark = pytest.mark.browser

LONG_TITLE = "A rather long chat title about lighthouses in storms and the boats that pass them at night"
ONE_ROW = 56  # px: py-2 (16) + a small button (31) + the border, with a little room; two rows would be over 80


def header_geometry(page: Page) -> dict:
    return page.evaluate("""() => {
        const h = document.querySelector('.chat-header'), t = document.getElementById('chat-title');
        const visible = [...h.children].filter(c => c.getClientRects().length);
        const rects = visible.map(c => c.getBoundingClientRect());
        return {height: h.getBoundingClientRect().height,
                headerOverflow: h.scrollWidth - h.clientWidth,
                pageOverflow: document.documentElement.scrollWidth - window.innerWidth,
                rows: new Set(rects.map(r => Math.round(r.top + r.height / 2))).size,
                rightmost: Math.max(...rects.map(r => r.right)),
                titleTruncated: t.scrollWidth > t.clientWidth,
                titleEllipsis: getComputedStyle(t).textOverflow,
                titleWidth: t.clientWidth};
    }""")


@pytest.mark.parametrize("viewport", [PHONE, {"width": 800, "height": 700}, DESKTOP], ids=["phone", "tablet", "desktop"])
def test_the_chat_header_is_one_row_that_fits(viewport, page: Page, django_user_model, base_url, tmp_path):
    ada = django_user_model.objects.create_user("ada", password="ada-pass-123")
    ImageProfile.objects.create(owner=ada, name="Sketches with a long name", provider="offline")
    chat = Chat.objects.create(owner=ada, title=LONG_TITLE)
    log_in(page.context, base_url, ada)
    page.set_viewport_size(viewport)
    guard = Guard(page, base_url)
    page.goto(chat.get_absolute_url())
    expect(page.locator("#chat-title")).to_have_text(LONG_TITLE)

    g = header_geometry(page)
    assert g["height"] <= ONE_ROW, g
    assert g["rows"] == 1, g  # every visible item centred on the same line
    assert g["headerOverflow"] <= 0 and g["pageOverflow"] <= 0 and g["rightmost"] <= viewport["width"], g
    assert g["titleTruncated"] and g["titleEllipsis"] == "ellipsis" and g["titleWidth"] >= 100, g
    shot(page, tmp_path, f"chat-header-{viewport['width']}.png", full_page=False)
    guard.check("header")


def test_every_header_action_works_from_a_phone(page: Page, django_user_model, base_url, tmp_path):
    ada = django_user_model.objects.create_user("ada", password="ada-pass-123")
    sketches = ImageProfile.objects.create(owner=ada, name="Sketches", provider="offline")
    chat = Chat.objects.create(owner=ada, title=LONG_TITLE)
    log_in(page.context, base_url, ada)
    page.set_viewport_size(PHONE)
    guard = Guard(page, base_url)
    page.goto(chat.get_absolute_url())

    # Folded away until the menu opens; the buttons keep their names for screen readers.
    for hidden in ("#chat-image-profile", "#chat-images-link", "#chat-delete-button"):
        expect(page.locator(hidden)).to_be_hidden()
    expect(page.get_by_role("button", name="Image", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="No chat model")).to_be_visible()

    page.click("#chat-more-button")
    menu = page.locator(".chat-more-menu")
    expect(menu).to_be_visible()
    box = menu.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    assert page.locator("#chat-images-link").get_attribute("href") == f"/gallery/?chat={chat.pk}"
    expect(page.get_by_role("button", name="Delete chat")).to_be_visible()
    assert axe_violations(page) == []  # the open menu, light theme
    shot(page, tmp_path, "chat-header-menu-phone.png", full_page=False)

    # The profile choice saves on change (htmx), from inside the menu.
    with page.expect_response(lambda r: r.url.endswith(f"/chats/{chat.pk}/profile/") and r.ok):
        page.select_option("#chat-image-profile", str(sketches.pk))
    chat.refresh_from_db()
    assert chat.image_profile_id == sketches.pk
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()

    # The chat model picker opens inside the screen.
    page.click("#chat-model-button")
    picker = page.locator(".chat-model-picker .dropdown-menu")
    expect(picker).to_be_visible()
    box = picker.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    page.keyboard.press("Escape")

    # The image button opens the generate dialog.
    page.click("#chat-generate-image-button")
    expect(page.locator("#image-gen-modal")).to_be_visible()
    page.click("#image-gen-modal .btn-close")
    expect(page.locator("#image-gen-modal")).to_be_hidden()

    # Delete, after the confirmation.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#chat-more-button")
    page.click("#chat-delete-button")
    page.wait_for_url("**/chats/")
    assert not Chat.objects.filter(pk=chat.pk).exists()
    guard.check("header actions")
