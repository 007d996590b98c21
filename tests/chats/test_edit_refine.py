"""Better context for edits (open-webui#21024, #25674): a chat /edit's instruction is rewritten by the cheap chat
model with EDIT_CONTEXT_SYSTEM, the source picture's prompt and the chat's recent turns; without a chat model, or
when it fails, the instruction goes as typed (no "; context: …" words); --raw is never refined; moderation checks
the refined instruction before the provider."""

import copy

import pytest

from chats.models import Chat, ChatPreferences, Message, PromptRefinement
from chats.refine import BETTER_CONTEXT_SYSTEM, EDIT_CONTEXT_SYSTEM, refine_generation_prompt
from images.models import GeneratedImage, Generation
from moderation.models import BlockRule, ModerationHit
from tests.chats.conftest import fixture, sent_json
from tests.chats.test_chat_reply import give_key, post

pytestmark = pytest.mark.django_db
GEMINI_LITE = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash-lite:generateContent"
EDITED = "Make the fox's fur darker and keep everything else as it is."


def gemini_says(http, text: str, times: int = 1) -> None:
    """A generateContent answer with `text` (tests/fixtures/llm/gemini_generate_text.json's shape)."""
    body = copy.deepcopy(fixture("gemini_generate_text.json")["json"])
    body["candidates"][0]["content"]["parts"][0]["text"] = text
    for _ in range(times):
        http.post(GEMINI_LITE, json=body)


def with_gemini(user) -> None:
    give_key(user, "gemini", "AIza-test")
    ChatPreferences.objects.create(owner=user, llm_provider="gemini", llm_model="gemini-2.5-flash")


@pytest.fixture
def chat(alice, alice_client, django_capture_on_commit_callbacks):
    """A chat about a poster with one picture in it, made before any chat model is set (so no LLM call)."""
    chat = Chat.objects.create(owner=alice)
    Message.objects.create(chat=chat, role="user", content="the poster needs a granite coast and a stormy evening")
    post(alice_client, chat, "/image a red fox --seed 4", django_capture_on_commit_callbacks)
    assert GeneratedImage.objects.get().generation.status == "succeeded"
    return chat


def edit_generation() -> Generation:
    return Generation.objects.exclude(edit_of=None).get()


def test_a_chat_edit_asks_the_cheap_model_with_the_edit_prompt_and_uses_its_answer(
        alice, alice_client, chat, http, django_capture_on_commit_callbacks):
    source_prompt = GeneratedImage.objects.get().generation.used_prompt
    with_gemini(alice)
    gemini_says(http, f'"{EDITED}"')
    post(alice_client, chat, "/edit make it darker", django_capture_on_commit_callbacks)
    edit = edit_generation()
    assert edit.status == "succeeded", edit.error_message
    assert (edit.prompt, edit.refined_prompt) == ("make it darker", EDITED)
    assert edit.parameters["refined_by"] == "Google Gemini · gemini-2.5-flash-lite"
    body = sent_json(http.calls[0])
    assert body["systemInstruction"] == {"parts": [{"text": EDIT_CONTEXT_SYSTEM}]}
    asked = body["contents"][0]["parts"][0]["text"]
    assert f"The picture was made from this prompt: {source_prompt}" in asked and "a red fox" in source_prompt
    assert "Raw edit request: make it darker" in asked
    assert "[made an image of: " in asked  # the chat's recent turns
    page = alice_client.get(chat.get_absolute_url()).content.decode()
    assert "Refined by Google Gemini · gemini-2.5-flash-lite" in page and EDITED.replace("'", "&#x27;") in page


def test_a_failing_model_keeps_the_instruction_as_typed(alice, alice_client, chat, http,
                                                        django_capture_on_commit_callbacks):
    with_gemini(alice)
    http.post(GEMINI_LITE, json={"error": {"code": 500, "message": "internal", "status": "INTERNAL"}}, status=500)
    post(alice_client, chat, "/edit make it darker", django_capture_on_commit_callbacks)
    edit = edit_generation()
    assert edit.status == "succeeded" and len(http.calls) == 1
    assert edit.used_prompt == "make it darker" and "refined_by" not in edit.parameters
    assert "Instruction sent with the image as typed" in alice_client.get(chat.get_absolute_url()).content.decode()


def test_without_a_chat_model_edits_go_as_typed_with_no_context_words(alice_client, chat, http,
                                                                       django_capture_on_commit_callbacks):
    post(alice_client, chat, "/edit make it darker", django_capture_on_commit_callbacks)
    post(alice_client, chat, "make it brighter", django_capture_on_commit_callbacks)  # the phrase rule's edit
    typed, phrased = Generation.objects.exclude(edit_of=None).order_by("pk")
    assert typed.parameters["better_context"] and phrased.parameters["better_context"]
    assert typed.used_prompt == "make it darker" and phrased.used_prompt == "make it brighter"
    assert typed.status == phrased.status == "succeeded"
    assert not http.calls


def test_raw_edits_are_never_refined(alice, alice_client, chat, http, django_capture_on_commit_callbacks):
    with_gemini(alice)
    post(alice_client, chat, "/edit make it darker --raw", django_capture_on_commit_callbacks)
    edit = edit_generation()
    assert edit.status == "succeeded" and edit.used_prompt == "make it darker"
    assert "better_context" not in edit.parameters and not http.calls


def test_the_cache_keeps_edits_apart_from_generations_with_the_same_words(alice, chat, http):
    with_gemini(alice)
    gemini_says(http, "A darker red fox on a stormy granite coast, moody light.")
    gemini_says(http, EDITED)
    source = GeneratedImage.objects.get()

    def refined(parameters: dict) -> Generation:
        generation = Generation.objects.create(owner=alice, chat=None, provider="offline", prompt="make it darker",
                                               parameters={"better_context": True, **parameters})
        refine_generation_prompt(generation)
        generation.refresh_from_db()
        return generation

    generated = refined({})
    first, again = refined({"edit_of": source.pk}), refined({"edit_of": source.pk})
    assert [sent_json(c)["systemInstruction"]["parts"][0]["text"] for c in http.calls] == [
        BETTER_CONTEXT_SYSTEM, EDIT_CONTEXT_SYSTEM]  # the generation's cached answer is not the edit's
    assert generated.refined_prompt.startswith("A darker red fox")
    assert first.refined_prompt == again.refined_prompt == EDITED
    assert again.parameters["refined_by"] == "Google Gemini · gemini-2.5-flash-lite (cached)"
    assert PromptRefinement.objects.count() == 2 and PromptRefinement.objects.get(refined=EDITED).hits == 1


def test_moderation_blocks_a_refined_instruction_with_a_blocked_word(alice, alice_client, chat, http,
                                                                     django_capture_on_commit_callbacks):
    rule = BlockRule(pattern="badword", kind="word")
    rule.full_clean()
    rule.save()
    with_gemini(alice)
    gemini_says(http, "Make the fox darker and add a badword sign; keep everything else as it is.")
    post(alice_client, chat, "/edit make it darker", django_capture_on_commit_callbacks)
    edit = edit_generation()
    assert (edit.status, edit.error_code) == ("failed", "content_policy")
    assert not edit.images.exists()  # the provider never ran
    assert ModerationHit.objects.get().generation == edit
