"""Settings → Usage, GET /api/usage/ and the admin's usage per user: this month, per day, per provider and profile."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from images import usage
from images.models import GeneratedImage, Generation, UsageLimit, UserUsage
from profiles.models import ImageProfile

pytestmark = pytest.mark.django_db
D = Decimal


def gen(owner, usd, *, day_offset=0, provider="xai", model="grok-imagine-image", profile=None, images=1,
        status="succeeded", when=None):
    generation = Generation.objects.create(owner=owner, provider=provider, model=model, prompt="p", status=status,
                                           profile=profile, estimated_cost_usd=None if usd is None else D(usd))
    for i in range(images):
        GeneratedImage.objects.create(generation=generation, owner=owner, index=i, file=f"f{generation.pk}_{i}",
                                      thumbnail="t", sha256="0" * 64, width=8, height=8, mime_type="image/png",
                                      bytes=1)
    start = usage.month_bounds()[0]
    Generation.objects.filter(pk=generation.pk).update(queued_at=when or start + timedelta(days=day_offset, hours=12))
    return generation


@pytest.fixture
def ledger(alice, bob):
    work = ImageProfile.objects.create(owner=alice, name="Work xAI", provider="xai", model="grok-imagine-image")
    gen(alice, "0.02", profile=work)
    gen(alice, "0.04", profile=work, images=2)
    gen(alice, "0.10", day_offset=1, provider="openai", model="dall-e-3")
    gen(alice, "0", day_offset=1, provider="offline", model="sketch-v1")
    gen(alice, None, day_offset=1, provider="openai", model="gpt-future")  # no known price
    gen(alice, "9.99", when=usage.month_bounds()[0] - timedelta(hours=1))  # last month
    gen(bob, "7.77", provider="stability", model="core")
    return work


def test_the_month_summary_totals_days_providers_and_profiles(alice, ledger):
    summary = usage.month_summary(alice)
    assert summary.total_usd == D("0.16") and summary.generations == 5 and summary.images == 6
    assert summary.unpriced == 1
    days = {row["day"]: (row["cost"], row["generations"], row["images"]) for row in summary.days}
    first = timezone.localtime(usage.month_bounds()[0]).date()
    assert days == {first: (D("0.06"), 2, 3), first + timedelta(days=1): (D("0.10"), 3, 3)}
    providers = [(r["provider"], r["model"], r["cost"]) for r in summary.providers]
    assert providers[0] == ("openai", "dall-e-3", D("0.10"))  # most expensive first
    assert ("xai", "grok-imagine-image", D("0.06")) in providers and len(providers) == 4
    profiles = {r["label"]: r["cost"] for r in summary.profiles}
    assert profiles == {"Work xAI": D("0.06"), "No profile (offline renderer or a deleted profile)": D("0.10")}


def test_the_usage_page_shows_only_the_signed_in_users_month(alice, alice_client, ledger):
    html = alice_client.get(reverse("settings-usage")).content.decode()
    assert 'id="usage-total">$0.16<' in html
    assert "Work xAI" in html and "dall-e-3" in html and "xAI Grok Imagine" in html
    assert "1 request used a model without a known price" in html
    assert "9.99" not in html and "7.77" not in html  # last month's, and bob's
    assert 'class="nav-link active" href="/settings/usage/"' in html  # the Settings tab
    assert "No monthly limit is set for you." in html


def test_the_usage_page_shows_the_cap_and_what_is_left(alice, alice_client, ledger, settings):
    settings.IMAGEGEN_MONTHLY_CAP_USD = "0.20"
    html = alice_client.get(reverse("settings-usage")).content.decode()
    assert "$0.20" in html and "$0.04 left" in html and '<progress class="w-100" max="100" value="80"' in html
    UsageLimit.objects.create(owner=alice, monthly_cap_usd=D("0.10"))
    html = alice_client.get(reverse("settings-usage")).content.decode()
    assert "Reached: paid providers are paused" in html


def test_an_empty_month_says_so(alice_client):
    html = alice_client.get(reverse("settings-usage")).content.decode()
    assert 'id="usage-empty"' in html and "$0.00" in html


def test_anonymous_visitors_are_sent_to_log_in(client):
    for url in (reverse("settings-usage"),):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert client.get(reverse("api:usage")).status_code in (401, 403)


def test_the_usage_page_costs_the_same_queries_for_3_or_60_generations(alice, alice_client,
                                                                     django_assert_max_num_queries):
    for i in range(3):
        gen(alice, "0.01", day_offset=i % 3)
    with django_assert_max_num_queries(20) as few:
        alice_client.get(reverse("settings-usage"))
    for i in range(57):
        gen(alice, "0.01", day_offset=i % 20, provider=["xai", "openai", "gemini"][i % 3])
    with django_assert_max_num_queries(len(few.captured_queries)):
        alice_client.get(reverse("settings-usage"))


def test_the_api_gives_the_same_numbers(alice, alice_api, ledger):
    body = alice_api.get(reverse("api:usage")).json()
    assert body["total_usd"] == "0.1600" and body["generations"] == 5 and body["images"] == 6
    assert body["cap_usd"] is None and body["remaining_usd"] is None and body["unpriced"] == 1
    assert {"day", "cost_usd", "generations", "succeeded", "images"} <= set(body["days"][0])
    assert {r["label"] for r in body["profiles"]} == {"Work xAI", "No profile (offline renderer or a deleted profile)"}


def test_a_queued_generation_shows_as_pending_spend(alice, alice_client):
    Generation.objects.create(owner=alice, provider="openai", model="dall-e-3", prompt="x", status="queued",
                              parameters={"n": 2})
    html = alice_client.get(reverse("settings-usage")).content.decode()
    assert "about $0.08 for images still being made" in html


# The admin -----------------------------------------------------------------------------------------------------


def test_the_admin_lists_usage_per_user(admin_client, alice, bob, ledger):
    html = admin_client.get(reverse("admin:images_userusage_changelist")).content.decode()
    assert "0.1600" in html and "7.7700" in html and "10.1500" in html  # alice this month, bob, alice all time
    ordered = admin_client.get(reverse("admin:images_userusage_changelist"), {"o": "-1"}).content.decode()
    assert ordered.index(">bob<") < ordered.index(">alice<")  # bob spent more this month


def test_the_admin_sets_a_per_user_cap(admin_client, alice, settings):
    settings.IMAGEGEN_MONTHLY_CAP_USD = "5"
    url = reverse("admin:images_userusage_change", args=[alice.pk])
    assert "$5.00 (site default)" in admin_client.get(url).content.decode()
    response = admin_client.post(url, {
        "usage_limit-TOTAL_FORMS": "1", "usage_limit-INITIAL_FORMS": "0", "usage_limit-MIN_NUM_FORMS": "0",
        "usage_limit-MAX_NUM_FORMS": "1", "usage_limit-0-monthly_cap_usd": "12.50", "usage_limit-0-owner": alice.pk,
        "_save": "Save",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    assert usage.cap_for(alice) == D("12.50")
    assert "$12.50 (override)" in admin_client.get(reverse("admin:images_userusage_changelist")).content.decode()
    assert UserUsage.objects.count() == 2  # a proxy: no users were added or copied
