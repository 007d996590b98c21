"""The prompt cache (seed 004): the same refinement request (owner, raw prompt, context, refiner model) asks the chat
model once; hits are counted per row and shown in /metrics, the admin and the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from chats.models import Chat, ChatPreferences, Message, PromptRefinement
from chats.refine import ContextOptions, refine_for_request, refine_generation_prompt
from images.models import Generation
from tests.chats.conftest import fixture
from tests.chats.test_chat_reply import give_key

from .http_stubs import http  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db
GEMINI_LITE = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash-lite:generateContent"
REFINED = "A lone lighthouse on a basalt cliff at dusk, storm waves below, cinematic lighting."
WITH_MESSAGES = ContextOptions(include_summary=True, include_messages=True)


def gemini_answers(http, times: int = 1) -> None:
    for _ in range(times):
        http.post(GEMINI_LITE, json=fixture("gemini_generate_text.json")["json"])


@pytest.fixture
def chat(alice):
    chat = Chat.objects.create(owner=alice, summary="A poster for a seaside festival.")
    Message.objects.create(chat=chat, role="user", content="the poster needs a lighthouse on granite")
    return chat


def with_gemini(user, model="gemini-2.5-flash"):
    give_key(user, "gemini", "AIza-test")
    ChatPreferences.objects.update_or_create(owner=user, defaults={"llm_provider": "gemini", "llm_model": model})


def test_the_same_request_asks_the_chat_model_once(alice, chat, http):
    with_gemini(alice)
    gemini_answers(http)
    first = refine_for_request(alice, "a lighthouse", chat=chat, options=WITH_MESSAGES)
    second = refine_for_request(alice, "a lighthouse", chat=chat, options=WITH_MESSAGES)
    assert first == (REFINED, "llm") and second == (REFINED, "cache")
    assert len(http.calls) == 1
    row = PromptRefinement.objects.get()
    assert (row.owner, row.prompt, row.refiner, row.hits, row.llm_calls) == (
        alice, "a lighthouse", "gemini:gemini-2.5-flash-lite", 1, 1)


def test_context_style_refiner_and_owner_are_part_of_the_key(alice, bob, chat, http):
    with_gemini(alice)
    with_gemini(bob)
    gemini_answers(http, times=5)
    refine_for_request(alice, "a lighthouse", chat=chat, options=WITH_MESSAGES)
    Message.objects.create(chat=chat, role="user", content="make it a winter night")  # new context: a miss
    assert refine_for_request(alice, "a lighthouse", chat=chat, options=WITH_MESSAGES)[1] == "llm"
    assert refine_for_request(alice, "a lighthouse", chat=chat, options=WITH_MESSAGES,
                              style_slug="cinematic")[1] == "llm"
    assert refine_for_request(bob, "a lighthouse", chat=None)[1] == "llm"  # never another owner's refinement
    ChatPreferences.objects.filter(owner=alice).update(llm_provider="gemini", llm_model="other")
    # Same cheap refiner (gemini-2.5-flash-lite) for any Gemini chat model: the key names the refiner, so a hit.
    assert refine_for_request(alice, "a lighthouse", chat=chat, options=WITH_MESSAGES)[1] == "cache"
    assert refine_for_request(alice, "a lighthouse", chat=None)[1] == "llm"  # no context at all: another key
    assert len(http.calls) == 5
    assert PromptRefinement.objects.filter(owner=bob).count() == 1


def test_the_worker_refinement_uses_the_cache_and_says_so_on_the_card(alice, alice_client, chat, http):
    with_gemini(alice)
    gemini_answers(http)
    message = Message.objects.create(chat=chat, role="assistant", kind="image")
    made = []
    for _ in range(2):
        generation = Generation.objects.create(owner=alice, chat=chat, message=None, provider="offline",
                                               prompt="a lighthouse", parameters={"better_context": True})
        refine_generation_prompt(generation)
        generation.refresh_from_db()
        made.append(generation)
    assert [g.refined_prompt for g in made] == [REFINED, REFINED] and len(http.calls) == 1
    assert made[0].parameters["refined_by"] == "Google Gemini · gemini-2.5-flash-lite"
    assert made[1].parameters["refined_by"] == "Google Gemini · gemini-2.5-flash-lite (cached)"
    Generation.objects.filter(pk=made[1].pk).update(status="succeeded", message=message)
    html = alice_client.get(chat.get_absolute_url()).content.decode()
    assert "Refined by Google Gemini · gemini-2.5-flash-lite (cached)" in html


def test_a_failed_llm_call_is_not_cached(alice, http):
    with_gemini(alice)
    http.post(GEMINI_LITE, status=500, json={"error": {"code": 500, "message": "internal", "status": "INTERNAL"}})
    gemini_answers(http)
    assert refine_for_request(alice, "a fox", chat=None) == ("a fox", "offline")
    assert not PromptRefinement.objects.exists()
    assert refine_for_request(alice, "a fox", chat=None)[1] == "llm"  # asked again, and now kept


def test_stale_rows_are_refreshed_and_ttl_zero_turns_the_cache_off(alice, http, settings):
    with_gemini(alice)
    gemini_answers(http, times=3)
    settings.IMAGEGEN_PROMPT_CACHE_TTL_DAYS = 30
    refine_for_request(alice, "a fox", chat=None)
    with time_machine.travel(timezone.now() + timedelta(days=31)):
        assert refine_for_request(alice, "a fox", chat=None)[1] == "llm"
    row = PromptRefinement.objects.get()
    assert (row.llm_calls, row.hits) == (2, 0)
    settings.IMAGEGEN_PROMPT_CACHE_TTL_DAYS = 0
    assert refine_for_request(alice, "a fox", chat=None)[1] == "llm"
    assert PromptRefinement.objects.get().llm_calls == 2  # off: neither read nor written


def test_hit_rate_in_metrics_admin_and_api(alice, bob, http, admin_client):
    with_gemini(alice)
    gemini_answers(http)
    for _ in range(3):
        refine_for_request(alice, "a fox", chat=None)  # 1 paid call, 2 hits

    metrics = admin_client.get("/metrics").content.decode()
    assert "imagegen_prompt_cache_hits_total 2.0" in metrics
    assert "imagegen_prompt_cache_llm_calls_total 1.0" in metrics
    assert "imagegen_prompt_cache_hit_ratio 0.6666" in metrics

    page = admin_client.get(reverse("admin:chats_promptrefinement_changelist")).content.decode()
    assert "hit rate 67% (2 hits, 1 paid LLM calls, 1 entries)" in page and "a fox" in page
    row = PromptRefinement.objects.get()
    assert admin_client.get(reverse("admin:chats_promptrefinement_change", args=[row.pk])).status_code == 200
    assert admin_client.get(reverse("admin:chats_promptrefinement_add")).status_code == 403

    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(alice)
    assert api.get(reverse("api:prompt-cache")).json() == {
        "entries": 1, "hits": 2, "llm_calls": 1, "hit_rate": pytest.approx(2 / 3), "ttl_days": 30}
    api.force_authenticate(bob)
    assert api.get(reverse("api:prompt-cache")).json()["entries"] == 0
    assert api.delete(reverse("api:prompt-cache")).status_code == 204
    assert PromptRefinement.objects.count() == 1  # bob's DELETE leaves alice's cache alone
    api.force_authenticate(alice)
    assert api.delete(reverse("api:prompt-cache")).status_code == 204
    assert not PromptRefinement.objects.exists()
    assert APIClient().get(reverse("api:prompt-cache")).status_code in (401, 403)
