"""Settings → Your data in a real browser: export a ZIP and download it, then delete the account."""

import zipfile

import pytest
from playwright.sync_api import Page, expect

from chats.models import Chat
from chats.services import chat_message_post

pytestmark = pytest.mark.browser


def test_export_download_then_delete_my_account(page: Page, django_user_model, tmp_path):
    user = django_user_model.objects.create_user("grace", password="grace-pass-123")
    chat_message_post(chat=Chat.objects.create(owner=user, title="Harbour"), content="/image a harbour --seed 2")
    page.goto("/accounts/login/")
    page.fill("#id_username", "grace")
    page.fill("#id_password", "grace-pass-123")
    page.click("button[type=submit]")

    page.click("#nav-settings")
    page.click("text=Your data")
    page.click("[data-testid=export-start]")
    download_link = page.locator("#exports a:has-text('Download')")
    expect(download_link).to_be_visible(timeout=15_000)
    with page.expect_download() as info:
        download_link.click()
    path = tmp_path / "export.zip"
    info.value.save_as(path)
    names = zipfile.ZipFile(path).namelist()
    assert "images/metadata.json" in names and any(n.endswith(".md") for n in names)
    assert sum(n.endswith(".png") for n in names) == 1
    page.screenshot(path=str(tmp_path / "your-data.png"), full_page=True)

    page.click("text=Delete my account…")
    page.fill("#confirm_username", "grace")
    page.fill("#password", "not-my-password")
    page.click("[data-testid=delete-account]")
    expect(page.locator(".alert-danger")).to_have_text("That password is not right.")
    expect(page.locator("#confirm_username")).to_have_value("grace")  # what was typed is kept
    page.fill("#password", "grace-pass-123")
    page.click("[data-testid=delete-account]")
    expect(page).to_have_url("/accounts/login/")
    assert not django_user_model.objects.filter(username="grace").exists()
