"""Moderation before sending (seed 004 content filtering): the operator's blocklist and OpenAI's moderation call
run before any provider call; a blocked prompt is content_policy, the rule is named to the operator only."""

from __future__ import annotations

import json
import logging

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from chats.models import Chat
from images.models import Generation
from images.services import generation_run, generation_start
from moderation.checks import BLOCKED_MESSAGE, MODERATION_URL, PromptBlocked, check_prompt
from moderation.models import BlockRule, ModerationHit
from profiles.models import ApiKey, ImageProfile

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_default(alice, fake_provider):
    return ImageProfile.objects.create(owner=alice, name="Fake", provider="fake", is_default=True)


def rule(pattern: str, kind: str = "word") -> BlockRule:
    r = BlockRule(pattern=pattern, kind=kind)
    r.full_clean()
    r.save()
    return r


def openai_key(owner) -> ApiKey:
    k = ApiKey(owner=owner, provider="openai", label="k")
    k.set_secret("sk-moderation-test-0000")
    k.save()
    return k


def test_a_blocklisted_word_fails_the_job_before_the_provider_is_called(alice, fake_default, fake_provider, caplog):
    blocked = rule("forbiddenword")
    generation = generation_start(owner=alice, prompt="a portrait with FORBIDDENWORD in it")
    with caplog.at_level(logging.WARNING, logger="imagegen.moderation"):
        generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert (generation.status, generation.error_code, generation.attempts) == ("failed", "content_policy", 1)
    assert generation.error_message == BLOCKED_MESSAGE and "forbiddenword" not in generation.error_message.lower()
    assert fake_provider.calls == []
    hit = ModerationHit.objects.get()
    assert (hit.rule, hit.generation, hit.source, hit.matched) == (blocked, generation, "blocklist",
                                                                   "word: forbiddenword")
    assert "word: forbiddenword" in caplog.text and "portrait" not in caplog.text  # the rule, not the prompt


def test_words_match_whole_words_any_case_and_full_width_forms(alice):
    rule("gore")
    for ok in ("a gorey story", "mangoes", "gorgeous"):
        check_prompt(alice, [ok])
    for bad in ("GORE!", "blood and gore", "ｇｏｒｅ"):
        with pytest.raises(PromptBlocked):
            check_prompt(alice, [bad])


def test_regex_rules_and_disabled_rules(alice):
    rule(r"\bkill(ing|ed)?\b", kind="regex")
    BlockRule.objects.create(pattern="cat", enabled=False)
    check_prompt(alice, ["a cat on a mat"])
    with pytest.raises(PromptBlocked):
        check_prompt(alice, ["Killing time"])
    with pytest.raises(ValidationError):
        BlockRule(pattern="([unclosed", kind="regex").full_clean()


def test_the_negative_prompt_and_refined_prompt_are_checked_too(alice, fake_default, fake_provider):
    rule("secretword")
    generation = generation_start(owner=alice, prompt="a lake", negative_prompt="secretword")
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.error_code == "content_policy" and fake_provider.calls == []


def test_a_chat_models_refinement_is_checked_before_the_image_provider(alice, fake_default, fake_provider,
                                                                       monkeypatch):
    rule("badword")
    generation = generation_start(owner=alice, prompt="a lake", options={"better_context": True})

    def refine(g, *, offline=False):
        if not offline:  # the chat model's step, after the first check
            g.refined_prompt = "a lake with badword"

    monkeypatch.setattr("images.services.refine_before_run", refine)
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.error_code == "content_policy" and fake_provider.calls == []


def test_the_chat_card_shows_a_generic_message(alice, alice_client, fake_default):
    rule("nastyword")
    chat = Chat.objects.create(owner=alice, title="t")
    alice_client.post(reverse("chat-message-create", args=[chat.pk]), {"content": "/image a nastyword"})
    generation = Generation.objects.get()
    generation_run(generation_id=generation.pk)
    card = alice_client.get(reverse("generation-card", args=[generation.pk])).content.decode()
    assert BLOCKED_MESSAGE.split(".")[0] in card and "word: nastyword" not in card


def test_no_fallback_for_a_blocked_prompt(alice, fake_provider):
    b = ImageProfile.objects.create(owner=alice, name="B", provider="fake")
    ImageProfile.objects.create(owner=alice, name="A", provider="fake", fallback=b, is_default=True)
    rule("nastyword")
    generation = generation_start(owner=alice, prompt="nastyword")
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert (generation.status, generation.profile.name, fake_provider.calls) == ("failed", "A", [])


# --- OpenAI's moderation endpoint ------------------------------------------------------------------------------


@pytest.fixture
def moderation_on(settings):
    settings.IMAGEGEN_MODERATION_API = True


def flagged(flag: bool) -> dict:
    return {"id": "modr-1", "model": "omni-moderation-latest", "results": [
        {"flagged": flag, "categories": {"violence": flag, "sexual": False}, "category_scores": {}}]}


def test_openai_moderation_blocks_a_flagged_prompt_with_the_users_key(alice, fake_default, fake_provider, http,
                                                                      moderation_on):
    openai_key(alice)
    http.post(MODERATION_URL, json=flagged(True))
    generation = generation_start(owner=alice, prompt="something violent")
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.error_code == "content_policy" and fake_provider.calls == []
    call = http.calls[0]
    assert call.request.headers["Authorization"] == "Bearer sk-moderation-test-0000"
    assert json.loads(call.request.body)["input"].startswith("something violent")
    assert ModerationHit.objects.get().matched == "violence"


def test_openai_moderation_passes_and_is_asked_once_per_text(alice, fake_default, fake_provider, http, moderation_on):
    openai_key(alice)
    http.post(MODERATION_URL, json=flagged(False))
    for _ in range(2):
        generation = generation_start(owner=alice, prompt="a calm lake", options={"raw": True})
        generation_run(generation_id=generation.pk)
        generation.refresh_from_db()
        assert generation.status == "succeeded"
    assert len(http.calls) == 1  # the same text again: the pass is remembered for a while


def test_a_moderation_outage_does_not_block_images(alice, fake_default, fake_provider, http, moderation_on):
    openai_key(alice)
    http.post(MODERATION_URL, status=500, json={"error": {"message": "down"}})
    generation = generation_start(owner=alice, prompt="a calm sea")
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.status == "succeeded"


def test_no_key_no_moderation_call(alice, fake_default, fake_provider, http, moderation_on):
    http.post(MODERATION_URL, json=flagged(True))  # would block, if it were asked
    generation = generation_start(owner=alice, prompt="a calm sea")
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.status == "succeeded" and len(http.calls) == 0


def test_t15_a_key_picked_by_a_profile_with_its_own_server_is_never_sent_to_openai(alice, fake_default, fake_provider,
                                                                                    http, moderation_on):
    """A key saved for an OpenAI-compatible server (Azure, a proxy, a local server) belongs to that host only."""
    proxy_key = openai_key(alice)
    ImageProfile.objects.create(owner=alice, name="Proxy", provider="openai", api_key=proxy_key,
                                base_url="https://proxy.example.com/v1")
    http.post(MODERATION_URL, json=flagged(True))  # would block, if it were asked
    generation = generation_start(owner=alice, prompt="a calm sea")
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.status == "succeeded" and len(http.calls) == 0


def test_the_modal_endpoint_refuses_before_refining(alice, alice_api, fake_default, monkeypatch):
    rule("nastyword")
    refined = []
    monkeypatch.setattr("images.generate_api.refine_for_request", lambda *a, **k: refined.append(1) or ("", "off"))
    answer = alice_api.post(reverse("api:generate-image"), {"prompt": "a nastyword"}, format="json")
    assert (answer.status_code, answer.json()["code"]) == (422, "content_policy")
    assert "nastyword" not in answer.json()["detail"] and refined == [] and not Generation.objects.exists()


def test_the_admin_edits_rules_and_sees_hits(alice, admin_client):
    response = admin_client.post(reverse("admin:moderation_blockrule_add"),
                                 {"kind": "regex", "pattern": "([bad", "note": "", "enabled": "on"})
    assert response.status_code == 200 and "Not a valid regular expression" in response.content.decode()
    response = admin_client.post(reverse("admin:moderation_blockrule_add"),
                                 {"kind": "word", "pattern": "dragonfire", "note": "test", "enabled": "on"})
    assert response.status_code == 302
    with pytest.raises(PromptBlocked):
        check_prompt(alice, ["dragonfire everywhere"])
    hits = admin_client.get(reverse("admin:moderation_moderationhit_changelist")).content.decode()
    assert "word: dragonfire" in hits and "alice" in hits
