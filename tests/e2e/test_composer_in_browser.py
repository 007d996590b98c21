"""The composer and the image cards in Chromium: the "/" menu by keyboard, option completion, ↑ recall after a
reload, the box growing; favorite / download / open on a card; an error card that links to the fix."""

import pytest
from playwright.sync_api import Page, expect

from chats.models import Chat
from images.models import GeneratedImage
from profiles.models import ImageProfile

from .ui import Guard, axe_violations, log_in, shot

pytestmark = pytest.mark.browser


def test_the_slash_menu_completes_commands_and_options_by_keyboard(page: Page, django_user_model, base_url, tmp_path):
    ada = django_user_model.objects.create_user("ada", password="ada-pass-123")
    chat = Chat.objects.create(owner=ada, title="Menu")
    log_in(page.context, base_url, ada)
    guard = Guard(page, base_url)
    page.goto(chat.get_absolute_url())
    box, menu = page.locator("#message-input"), page.locator("#command-menu")

    box.press("/")
    expect(menu).to_be_visible()
    expect(menu.locator(".command-hint:visible").first).to_have_attribute("aria-selected", "true")
    expect(page.locator("#announcer")).to_contain_text("suggestions")
    assert axe_violations(page) == []
    shot(page, tmp_path, "composer-menu.png")
    page.keyboard.type("im")
    page.keyboard.press("ArrowDown")  # /image → /image help
    active = menu.locator(".command-hint.active")
    expect(active).to_have_attribute("data-insert", "/image help")
    assert box.get_attribute("aria-activedescendant") == active.get_attribute("id")
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(box).to_have_value("/im")  # Escape closes the menu and sends nothing

    # Enter inserts the highlighted entry instead of sending; then typing goes on.
    page.keyboard.type("a")
    page.keyboard.press("Enter")
    expect(box).to_have_value("/image ")
    page.keyboard.type("a harbour at night --st")
    expect(menu.locator(".command-hint:visible")).to_have_count(1)  # "--style …"; the styles come after it
    page.keyboard.press("Tab")
    expect(box).to_have_value("/image a harbour at night --style ")
    expect(menu.locator(".command-hint:visible")).to_have_count(10)
    expect(menu.locator(".command-hint:visible").first).to_have_attribute("data-insert", "--style watercolour ")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    expect(box).to_have_value("/image a harbour at night --style sketch ")
    expect(menu).to_be_hidden()

    # With the menu closed, Enter sends.
    page.keyboard.press("Enter")
    expect(page.locator(".message-user .bubble")).to_have_text("/image a harbour at night --style sketch")
    expect(page.locator(".gen-succeeded img")).to_be_visible(timeout=15_000)
    expect(page.locator("#announcer")).to_have_text("Image ready.")
    expect(box).to_have_value("")

    # Shift+Enter adds lines and the box grows; ↑ in an empty box recalls the last message, even after a reload.
    height = box.evaluate("el => el.offsetHeight")
    box.fill("one")
    for word in ("two", "three"):
        page.keyboard.press("Shift+Enter")
        page.keyboard.type(word)
    assert box.evaluate("el => el.offsetHeight") > height
    page.reload()
    box.focus()
    page.keyboard.press("ArrowUp")
    expect(box).to_have_value("/image a harbour at night --style sketch")
    guard.check("composer")


def test_card_actions_and_an_error_card_that_says_the_fix(page: Page, django_user_model, base_url, tmp_path):
    ada = django_user_model.objects.create_user("ada", password="ada-pass-123")
    chat = Chat.objects.create(owner=ada, title="Cards")
    log_in(page.context, base_url, ada)
    guard = Guard(page, base_url)
    page.goto(chat.get_absolute_url())
    page.fill("#message-input", "/image a red fox in the snow")
    page.keyboard.press("Enter")
    figure = page.locator(".gen-succeeded .gen-image")
    expect(figure).to_be_visible(timeout=15_000)

    # The actions are reachable by keyboard (they show on focus), not only on hover.
    star = figure.locator("[data-favorite-toggle]")
    star.focus()
    expect(star).to_be_visible()
    expect(star).to_have_attribute("aria-pressed", "false")
    star.click()
    expect(figure.locator("[data-favorite-toggle]")).to_have_attribute("aria-pressed", "true")
    assert GeneratedImage.objects.get().is_favorite
    image = GeneratedImage.objects.get()
    expect(figure.locator("a[download]")).to_have_attribute("href", image.download_url)
    expect(figure.get_by_role("link", name="Open full size").last).to_have_attribute("target", "_blank")

    # Re-roll: a second card with the same prompt.
    page.click(".reroll")
    expect(page.locator(".gen-succeeded")).to_have_count(2, timeout=15_000)

    # A provider without a key: the card says what went wrong and links to the fix.
    ImageProfile.objects.create(owner=ada, name="OpenAI", provider="openai", model="gpt-image-1", is_default=True)
    page.fill("#message-input", "/image a blue fox")
    page.keyboard.press("Enter")
    failed = page.locator(".gen-failed")
    expect(failed).to_be_visible(timeout=15_000)
    expect(failed.locator(".error-fix")).to_contain_text("Add an API key for this provider in Settings → API keys.")
    expect(page.locator("#announcer")).to_contain_text("The image failed.")
    page.wait_for_timeout(300)  # let the swap settle before the scan
    assert axe_violations(page) == []
    shot(page, tmp_path, "chat-cards.png")
    failed.get_by_role("link", name="Open API keys").click()
    page.wait_for_url("**/settings/api-keys/")
    guard.check("cards")
