"""Settings → Usage in a real browser: the tab, this month's totals, per day / provider / profile, and the cap."""

from datetime import timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from images.models import GeneratedImage, Generation
from images.usage import month_bounds
from profiles.models import ImageProfile

pytestmark = pytest.mark.browser


def spend(owner, usd, *, provider, model, profile=None, day=0):
    generation = Generation.objects.create(owner=owner, provider=provider, model=model, prompt="p", status="succeeded",
                                           profile=profile, estimated_cost_usd=Decimal(usd), cost_source="provider")
    GeneratedImage.objects.create(generation=generation, owner=owner, file=f"f{generation.pk}", thumbnail="t",
                                  sha256="0" * 64, width=8, height=8, mime_type="image/png", bytes=1)
    Generation.objects.filter(pk=generation.pk).update(queued_at=month_bounds()[0] + timedelta(days=day, hours=9))


def test_the_usage_tab_shows_this_months_spend_and_the_cap(page: Page, django_user_model, settings, tmp_path):
    settings.IMAGEGEN_MONTHLY_CAP_USD = "1.00"
    ada = django_user_model.objects.create_user("ada", password="ada-pass-123")
    other = django_user_model.objects.create_user("other", password="other-pass-123")
    work = ImageProfile.objects.create(owner=ada, name="Work xAI", provider="xai", model="grok-imagine-image")
    spend(ada, "0.02", provider="xai", model="grok-imagine-image", profile=work)
    spend(ada, "0.08", provider="openai", model="dall-e-3", day=1)
    spend(ada, "0.30", provider="openai", model="gpt-image-1", day=1)
    spend(other, "5.55", provider="stability", model="core")

    page.goto("/accounts/login/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "ada-pass-123")
    page.click("button[type=submit]")
    page.click("#nav-settings")
    page.click("#settings-usage-tab")

    expect(page).to_have_url("/settings/usage/")
    expect(page.locator("#settings-usage-tab")).to_have_class("nav-link active")
    expect(page.locator("#usage-total")).to_have_text("$0.40")
    expect(page.locator("#usage-generations")).to_have_text("3")
    expect(page.locator("#usage-days tbody tr")).to_have_count(2)
    expect(page.locator("#usage-providers tbody tr").first).to_contain_text("gpt-image-1")
    expect(page.locator("#usage-profiles")).to_contain_text("Work xAI")
    expect(page.locator("#usage-cap")).to_contain_text("$1.00")
    expect(page.locator("#usage-cap")).to_contain_text("$0.60 left")
    assert page.locator("#usage-cap progress").get_attribute("value") == "40"
    assert "5.55" not in page.content()
    page.screenshot(path=str(tmp_path / "usage.png"), full_page=True)
