"""The chat list in Chromium: live search, rename from the ⋯ menu (Escape cancels), delete with a confirmation."""

import pytest
from playwright.sync_api import Page, expect

from chats.models import Chat, Message

from .ui import Guard, axe_violations, log_in, shot

pytestmark = pytest.mark.browser


def test_search_rename_and_delete_chats(page: Page, django_user_model, base_url, tmp_path):
    ada = django_user_model.objects.create_user("ada", password="ada-pass-123")
    fox = Chat.objects.create(owner=ada, title="Foxes")
    Message.objects.create(chat=fox, role="user", content="/image a red fox in the snow")
    harbour = Chat.objects.create(owner=ada, title="Harbour")  # newest: shown first
    log_in(page.context, base_url, ada)
    guard = Guard(page, base_url)
    page.goto(harbour.get_absolute_url())
    items = page.locator("#chat-list-items .chat-link")
    expect(items).to_have_text(["Harbour", "Foxes"])

    # Live search, in titles and in what was said.
    page.fill("#chat-search", "snow")
    expect(items).to_have_text(["Foxes"])
    page.fill("#chat-search", "zebra")
    expect(page.locator("#chat-list-items")).to_contain_text("No chat matches “zebra”.")
    page.fill("#chat-search", "")
    expect(items).to_have_text(["Harbour", "Foxes"])
    expect(page.locator(".chat-item.active .chat-link")).to_have_text("Harbour")  # still marked after the swap

    # Rename another chat from its menu; Escape first cancels, then Enter saves. The page stays on Harbour.
    fox_item = page.locator(f'.chat-item[data-chat-id="{fox.pk}"]')
    fox_item.locator(".chat-item-menu").click()
    fox_item.locator("[data-rename-chat]").click()
    field = fox_item.locator("input[name=title]")
    expect(field).to_be_focused()
    page.keyboard.press("Escape")
    expect(field).to_be_hidden()
    expect(fox_item.locator(".chat-item-menu")).to_be_focused()
    fox_item.locator(".chat-item-menu").click()
    fox_item.locator("[data-rename-chat]").click()
    field.fill("Red foxes")
    shot(page, tmp_path, "chat-rename.png")
    assert axe_violations(page) == []
    field.press("Enter")
    page.wait_for_url(f"**{harbour.get_absolute_url()}")
    expect(items).to_have_text(["Harbour", "Red foxes"])
    fox.refresh_from_db()
    assert fox.title == "Red foxes"

    # Delete asks first; "cancel" keeps the chat, "OK" deletes it and stays on the chat on screen.
    answers = iter([False, True])
    page.on("dialog", lambda d: d.accept() if next(answers) else d.dismiss())
    for _ in range(2):
        fox_item.locator(".chat-item-menu").click()
        fox_item.get_by_role("button", name="Delete").click()
    page.wait_for_url(f"**{harbour.get_absolute_url()}")
    expect(page.locator(".page-flash")).to_contain_text("Deleted the chat “Red foxes”.")
    expect(items).to_have_text(["Harbour"])
    assert not Chat.objects.filter(pk=fox.pk).exists()
    guard.check("chat list")
