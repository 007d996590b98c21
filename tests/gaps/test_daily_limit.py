"""Issue 4: the optional daily image quota per user (IMAGEGEN_DAILY_IMAGE_LIMIT, 0 = off; admin override per user),
enforced in generation_start next to the monthly cap and the active-job cap: 429 quota_exceeded, Retry-After until
midnight in settings.TIME_ZONE."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from chats.models import Chat, Message
from images.models import Generation, UsageLimit
from images.services import GenerationRequestError, generation_start
from images.usage import DailyLimitReached, check_daily_limit, day_bounds, images_today

pytestmark = pytest.mark.django_db


@pytest.fixture
def limit(settings):
    settings.IMAGEGEN_DAILY_IMAGE_LIMIT = 3
    return 3


def test_off_by_default(alice, settings):
    assert settings.IMAGEGEN_DAILY_IMAGE_LIMIT == 0
    for _ in range(5):
        generation_start(owner=alice, prompt="a fox", options={"n": 4})
        Generation.objects.update(status="succeeded")  # keep the active-job cap out of the way


def test_images_not_generations_are_counted_and_the_request_that_would_pass_it_is_refused(alice, limit):
    generation_start(owner=alice, prompt="a fox", options={"n": 2})
    with pytest.raises(DailyLimitReached) as refused:
        generation_start(owner=alice, prompt="two more", options={"n": 2})
    e = refused.value
    assert e.code == "quota_exceeded" and "daily limit of 3 images" in e.message and "1 is left" in e.message
    generation_start(owner=alice, prompt="the last one")  # n=1 fits exactly
    assert images_today(alice) == 3
    with pytest.raises(GenerationRequestError):
        generation_start(owner=alice, prompt="one too many")
    assert Generation.objects.count() == 2  # nothing was queued for the refused ones


def test_failed_canceled_yesterdays_and_other_users_images_do_not_count(alice, bob, limit):
    for status in ("failed", "canceled"):
        generation = generation_start(owner=alice, prompt="x", options={"n": 3})
        Generation.objects.filter(pk=generation.pk).update(status=status)
    old = generation_start(owner=alice, prompt="yesterday", options={"n": 3})
    Generation.objects.filter(pk=old.pk).update(status="succeeded", queued_at=day_bounds()[0] - timedelta(seconds=1))
    generation_start(owner=bob, prompt="bob's", options={"n": 3})
    assert images_today(alice) == 0
    check_daily_limit(alice, 3)  # passes


def test_the_admins_per_user_value_wins_and_zero_lifts_it(alice, bob, limit):
    UsageLimit.objects.create(owner=alice, daily_image_limit=0)
    UsageLimit.objects.create(owner=bob, daily_image_limit=1)
    check_daily_limit(alice, 4)
    generation_start(owner=bob, prompt="one")
    with pytest.raises(DailyLimitReached):
        check_daily_limit(bob, 1)


def test_the_day_is_midnight_to_midnight_in_time_zone(settings):
    settings.TIME_ZONE = "America/New_York"
    with timezone.override("America/New_York"):
        now = datetime(2026, 3, 8, 23, 30, tzinfo=ZoneInfo("America/New_York"))  # the DST change day: 23 h long
        start, end = day_bounds(now)
        assert (start.hour, end.hour, end.day) == (0, 0, 9) and end.timestamp() - start.timestamp() == 23 * 3600
        e = DailyLimitReached(used=3, requested=1, limit=3, resets_at=end)
        assert "America/New_York" in e.message and "9 March" in e.message


def test_the_api_answers_429_with_retry_after_until_midnight(alice, alice_api, limit):
    generation_start(owner=alice, prompt="x", options={"n": 3})
    response = alice_api.post(reverse("api:generate-image"), {"prompt": "a fox"}, format="json")
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["code"] == "quota_exceeded" and "daily limit of 3 images" in body["detail"]
    until_midnight = (day_bounds()[1] - timezone.now()).total_seconds()
    assert abs(int(response["Retry-After"]) - until_midnight) <= 5


def test_the_chat_api_uses_the_days_retry_after_not_the_months(alice, alice_api, limit):
    generation_start(owner=alice, prompt="x", options={"n": 3})
    chat = Chat.objects.create(owner=alice)
    response = alice_api.post(reverse("api:chat-messages", args=[chat.pk]), {"content": "/image a fox"},
                              format="json")
    assert response.status_code == 429 and response.json()["code"] == "quota_exceeded"
    assert int(response["Retry-After"]) <= 24 * 3600


def test_the_chat_page_shows_an_error_card_naming_the_limit(alice, alice_client, limit):
    generation_start(owner=alice, prompt="x", options={"n": 3})
    chat = Chat.objects.create(owner=alice)
    response = alice_client.post(reverse("chat-message-create", args=[chat.pk]), {"content": "/image a fox"},
                                 HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    card = Message.objects.filter(chat=chat, kind="error").get()
    assert card.metadata["code"] == "quota_exceeded" and "daily limit of 3 images" in card.content
    assert "daily limit of 3 images" in response.content.decode()
