import pytest
from playwright.sync_api import Page, expect

from profiles.models import ApiKey, ImageProfile

pytestmark = pytest.mark.browser

SECRET = "sk-e2e-AbCdEfGh1234567890wxyz"


def test_add_a_key_then_create_a_profile_that_uses_it(page: Page, django_user_model, tmp_path):
    django_user_model.objects.create_user("ada", password="ada-pass-123")
    page.goto("/accounts/login/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "ada-pass-123")
    page.click("button[type=submit]")
    page.click("#nav-settings")

    page.select_option("#id_provider", "openai")
    page.fill("#id_label", "work")
    page.fill("#id_key", SECRET)
    page.click("#api-key-form button[type=submit]")
    row = page.locator(".api-key-row")
    expect(row).to_contain_text("…wxyz")
    expect(row).to_contain_text("Unchecked")
    assert SECRET not in page.content()
    page.screenshot(path=str(tmp_path / "keys.png"), full_page=True)

    page.click(".nav-tabs >> text=Image profiles")
    page.click("#new-profile")
    page.fill("#id_name", "DALL-E HD")
    page.select_option("#id_provider", "openai")  # htmx swaps in OpenAI's key list, models and parameters
    expect(page.locator("#id_quality")).to_be_visible()
    expect(page.locator("#id_api_key option", has_text="…wxyz")).to_have_count(1)
    page.select_option("#id_api_key", label="OpenAI …wxyz (work)")
    page.fill("#id_model", "gpt-image-1")
    page.select_option("#id_quality", "high")
    page.check("#id_is_default")
    page.screenshot(path=str(tmp_path / "profile-form.png"), full_page=True)
    page.click("#profile-form button[type=submit]")

    expect(page.locator(".profile-row")).to_contain_text("DALL-E HD")
    expect(page.locator(".profile-row")).to_contain_text("default")
    profile = ImageProfile.objects.get()
    assert profile.api_key == ApiKey.objects.get() and profile.parameters == {"quality": "high"}
    page.screenshot(path=str(tmp_path / "profiles.png"), full_page=True)
