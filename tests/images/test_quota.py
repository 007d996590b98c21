"""The optional monthly cap: quota_exceeded before anything is queued, in the service, the API, the chat and the admin."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils import timezone

from chats.models import Chat, Message
from images import usage
from images.models import Generation, UsageLimit
from images.services import GenerationRequestError, generation_start
from profiles.models import ImageProfile

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def paid(alice, fake_provider):
    """Alice's default profile is a paid (not free) provider."""
    return ImageProfile.objects.create(owner=alice, name="Fake", provider="fake", is_default=True)


@pytest.fixture
def cap(settings):
    def set_cap(value):
        settings.IMAGEGEN_MONTHLY_CAP_USD = value
    set_cap("1.00")
    return set_cap


def spent(owner, usd: str, *, when: datetime | None = None, provider="fake", status="succeeded") -> Generation:
    generation = Generation.objects.create(owner=owner, provider=provider, model="fake-1", prompt="earlier",
                                           status=status, estimated_cost_usd=D(usd), cost_source="provider")
    if when is not None:
        Generation.objects.filter(pk=generation.pk).update(queued_at=when)
    return generation


def test_without_a_cap_nothing_is_blocked(alice, paid, settings):
    settings.IMAGEGEN_MONTHLY_CAP_USD = None
    spent(alice, "500")
    assert generation_start(owner=alice, prompt="a fox").status == "queued"


def test_at_the_cap_a_new_generation_is_refused_before_queueing(alice, paid, cap):
    spent(alice, "0.60")
    spent(alice, "0.40")
    before = Generation.objects.count()
    with pytest.raises(GenerationRequestError) as raised:
        generation_start(owner=alice, prompt="a fox")
    error = raised.value
    assert error.code == "quota_exceeded"
    assert Generation.objects.count() == before  # nothing queued
    resets = usage.month_bounds()[1]
    assert "$1.00 spent of $1.00" in error.message
    assert f"until {timezone.localtime(resets).day} {timezone.localtime(resets):%B %Y}" in error.message
    assert error.spent == D("1.00") and error.cap == D("1.00") and error.resets_at == resets
    assert 0 < error.retry_after_s <= 31 * 24 * 3600


def test_below_the_cap_it_is_allowed(alice, paid, cap):
    spent(alice, "0.99")
    assert generation_start(owner=alice, prompt="a fox").status == "queued"


def test_last_months_spend_and_other_users_spend_do_not_count(alice, bob, paid, cap):
    start = usage.month_bounds()[0]
    spent(alice, "50", when=start - timedelta(seconds=1))
    spent(bob, "50")
    assert generation_start(owner=alice, prompt="a fox").status == "queued"


def test_the_month_turns_at_midnight_in_the_site_time_zone(alice, paid, cap, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    now = timezone.make_aware(datetime(2026, 3, 31, 23, 30), timezone.get_current_timezone())
    start, end = usage.month_bounds(now)
    assert (timezone.localtime(start).date().isoformat(), timezone.localtime(end).date().isoformat()) == \
        ("2026-03-01", "2026-04-01")
    december = timezone.make_aware(datetime(2026, 12, 5), timezone.get_current_timezone())
    assert timezone.localtime(usage.month_bounds(december)[1]).date().isoformat() == "2027-01-01"


def test_queued_and_running_generations_count_at_their_table_price(alice, cap):
    """Twenty requests in one burst must not all slip under the cap before any of them finishes."""
    cap("0.05")
    ImageProfile.objects.create(owner=alice, name="D3", provider="openai", model="dall-e-3", is_default=True)
    for status in ("queued", "running"):  # $0.04 each (dall-e-3 standard), no cost recorded yet
        Generation.objects.create(owner=alice, provider="openai", model="dall-e-3", prompt="x", status=status,
                                  parameters={"n": 1})
    assert usage.committed_spend(alice) == D("0.08")
    with pytest.raises(GenerationRequestError, match="monthly image budget"):
        usage.check_quota(alice, "openai")


def test_free_providers_still_work_over_the_cap(alice, cap):
    spent(alice, "5")
    generation = generation_start(owner=alice, prompt="a fox")  # no profile: the offline renderer
    assert generation.provider == "offline" and generation.status == "queued"


def test_a_per_user_override_beats_the_site_default(alice, paid, cap):
    spent(alice, "1.50")
    UsageLimit.objects.create(owner=alice, monthly_cap_usd=D("2.00"))
    assert generation_start(owner=alice, prompt="a fox")
    UsageLimit.objects.filter(owner=alice).update(monthly_cap_usd=D("0"))
    with pytest.raises(GenerationRequestError):
        generation_start(owner=alice, prompt="a fox")
    UsageLimit.objects.filter(owner=alice).update(unlimited=True)
    assert generation_start(owner=alice, prompt="a fox")


def test_an_override_applies_without_a_site_cap(alice, paid, settings):
    settings.IMAGEGEN_MONTHLY_CAP_USD = None
    UsageLimit.objects.create(owner=alice, monthly_cap_usd=D("0.10"))
    spent(alice, "0.10")
    with pytest.raises(GenerationRequestError):
        generation_start(owner=alice, prompt="a fox")


@pytest.mark.parametrize("bad", ["ten dollars", "-1"])
def test_a_bad_operator_setting_is_reported_clearly(alice, paid, settings, bad):
    settings.IMAGEGEN_MONTHLY_CAP_USD = bad
    with pytest.raises(ImproperlyConfigured, match="IMAGEGEN_MONTHLY_CAP_USD"):
        generation_start(owner=alice, prompt="a fox")


# Every door: API, chat page, retry, admin -----------------------------------------------------------------------


def test_the_chat_api_answers_429_quota_exceeded_with_retry_after(alice, alice_api, paid, cap):
    spent(alice, "1")
    chat = Chat.objects.create(owner=alice, title="c")
    response = alice_api.post(reverse("api:chat-messages", args=[chat.pk]), {"content": "/image a fox"},
                              format="json")
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "quota_exceeded" and "$1.00 spent of $1.00" in body["detail"]
    assert 0 < int(response["Retry-After"]) <= 31 * 24 * 3600
    assert not Message.objects.filter(chat=chat).exists()  # nothing saved
    assert Generation.objects.filter(owner=alice).count() == 1


def test_the_generate_image_api_answers_429_quota_exceeded(alice, alice_api, paid, cap):
    spent(alice, "1")
    response = alice_api.post(reverse("api:generate-image"), {"prompt": "a fox"}, format="json")
    assert response.status_code == 429, response.content
    assert response.json()["code"] == "quota_exceeded" and int(response["Retry-After"]) > 0


def test_the_chat_page_shows_an_error_card_with_spend_cap_reset_and_a_link(alice, alice_client, paid, cap):
    spent(alice, "1.25")
    chat = Chat.objects.create(owner=alice, title="c")
    response = alice_client.post(reverse("chat-message-create", args=[chat.pk]), {"content": "/image a fox"},
                                 HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "error-card" in html and "$1.25 spent of $1.00" in html and "paused until" in html
    assert reverse("settings-usage") in html
    card = Message.objects.get(chat=chat, kind="error")
    assert card.metadata["code"] == "quota_exceeded"
    assert Generation.objects.filter(owner=alice).count() == 1


def test_retry_on_a_card_is_refused_with_429_and_the_reason(alice, alice_client, paid, cap):
    failed = spent(alice, "1", status="failed")
    response = alice_client.post(reverse("generation-retry", args=[failed.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 429 and "monthly image budget" in response.content.decode()
    assert Generation.objects.filter(owner=alice).count() == 1


def test_the_admin_retry_action_reports_a_refusal_instead_of_crashing(alice, paid, cap, admin_client):
    failed = spent(alice, "1", status="failed")
    response = admin_client.post(reverse("admin:images_generation_changelist"),
                                 {"action": "retry", "_selected_action": [failed.pk]}, follow=True)
    html = response.content.decode()
    assert response.status_code == 200 and "Retried 0 generation(s)" in html and "monthly image budget" in html
