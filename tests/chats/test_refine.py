"""Better context: the request sent to the chat model, the context toggles, and the offline fallback."""

import pytest
from django.urls import reverse

from chats.models import Chat, ChatPreferences, Message
from chats.refine import BETTER_CONTEXT_SYSTEM, ContextOptions, gather_context, refine_offline, salient_words
from images.models import Generation
from images.styles import STYLES
from tests.chats.conftest import fixture, sent_json
from tests.chats.test_chat_reply import give_key, post

pytestmark = pytest.mark.django_db
GEMINI_LITE = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash-lite:generateContent"
REFINED = "A lone lighthouse on a basalt cliff at dusk, storm waves below, cinematic lighting."


@pytest.fixture
def chat(alice):
    chat = Chat.objects.create(owner=alice, summary="Planning a poster for a seaside festival.",
                               memory="The festival is in Brittany.")
    for role, text in [("user", "the poster needs a lighthouse"), ("assistant", "Granite coast, stormy sky?"),
                       ("user", "yes, granite coast and a stormy evening sky")]:
        Message.objects.create(chat=chat, role=role, content=text)
    return chat


@pytest.fixture
def with_gemini(alice):
    give_key(alice, "gemini", "AIza-test")
    ChatPreferences.objects.create(owner=alice, llm_provider="gemini", llm_model="gemini-2.5-flash")


def test_image_asks_the_cheap_model_with_the_system_prompt_and_context(alice_client, chat, with_gemini, http,
                                                                       django_capture_on_commit_callbacks):
    http.post(GEMINI_LITE, json=fixture("gemini_generate_text.json")["json"])
    post(alice_client, chat, "/image a lighthouse --style cinematic", django_capture_on_commit_callbacks)
    generation = Generation.objects.get()
    assert generation.status == "succeeded", generation.error_message
    assert generation.refined_prompt.startswith(REFINED.rstrip("."))
    assert generation.refined_prompt.endswith(STYLES["cinematic"].suffix)  # the preset is kept
    assert generation.parameters["refined_by"] == "Google Gemini · gemini-2.5-flash-lite"
    body = sent_json(http.calls[0])
    assert body["systemInstruction"] == {"parts": [{"text": BETTER_CONTEXT_SYSTEM}]}
    assert body["generationConfig"] == {"temperature": 0.4, "maxOutputTokens": 500}
    asked = body["contents"][0]["parts"][0]["text"]
    assert "Raw image prompt: a lighthouse" in asked
    assert "Conversation summary: Planning a poster" in asked
    assert "User: yes, granite coast and a stormy evening sky" in asked  # the last 2 turns
    assert "Memory note" not in asked  # /image: summary and messages, not the memory note
    # All three prompts are on the card.
    html = alice_client.get(chat.get_absolute_url()).content.decode()
    assert "You typed</dt><dd class=\"prompt-typed\">a lighthouse" in html and REFINED.rstrip(".") in html


def test_a_failing_model_falls_back_to_the_offline_prompt(alice_client, chat, with_gemini, http,
                                                          django_capture_on_commit_callbacks):
    http.post(GEMINI_LITE, json={"error": {"code": 500, "message": "internal", "status": "INTERNAL"}}, status=500)
    post(alice_client, chat, "/image a lighthouse", django_capture_on_commit_callbacks)
    generation = Generation.objects.get()
    assert generation.status == "succeeded"
    assert generation.refined_prompt.startswith("a lighthouse; context: ")
    assert "granite" in generation.refined_prompt and "refined_by" not in generation.parameters


def test_without_a_chat_model_image_refines_offline_and_raw_skips_it(alice_client, chat, http,
                                                                      django_capture_on_commit_callbacks):
    post(alice_client, chat, "/image a lighthouse --style sketch", django_capture_on_commit_callbacks)
    post(alice_client, chat, "/image a lighthouse --raw", django_capture_on_commit_callbacks)
    refined, raw = Generation.objects.order_by("pk")
    assert refined.refined_prompt.startswith("a lighthouse; context: ") and "granite" in refined.refined_prompt
    assert refined.refined_prompt.endswith(STYLES["sketch"].suffix)
    assert raw.used_prompt == "a lighthouse"
    assert not http.calls


def test_offline_refiner_is_deterministic_and_skips_what_the_prompt_has():
    context = ["User: the poster needs a lighthouse", "User: a stormy stormy evening sky over granite"]
    assert salient_words(context, "a lighthouse") == ["stormy", "poster", "needs", "evening", "granite"]
    assert refine_offline("a lighthouse", context=context) == refine_offline("a lighthouse", context=context)
    assert refine_offline("a fox") == "a fox"


def test_context_toggles(chat):
    assert gather_context(chat, ContextOptions(include_summary=False, include_messages=False)) == []
    everything = gather_context(chat, ContextOptions(include_memory=True, history_count=10))
    assert everything[0].startswith("Conversation summary") and everything[1] == "Memory note: The festival is in Brittany."
    assert len(everything) == 5
    assert len(gather_context(chat, ContextOptions(include_summary=False, history_count=1))) == 2


def test_the_modal_endpoint_refines_with_the_ticked_context(alice_api, chat, with_gemini, http, settings):
    settings.IMAGEGEN_SYNC_WAIT_S = 5
    http.post(GEMINI_LITE, json=fixture("gemini_generate_text.json")["json"])
    response = alice_api.post(reverse("api:generate-image"), {
        "prompt": "a lighthouse", "conversation_id": chat.pk, "include_messages": True, "history_count": 1,
        "include_memory_pad": True, "better_context": True, "aspect_ratio": "16:9"}, format="json")
    assert response.status_code == 200, response.json()
    answer = response.json()
    assert answer["refined_prompt"] == REFINED and answer["images"][0].startswith("data:image/png;base64,")
    asked = sent_json(http.calls[0])["contents"][0]["parts"][0]["text"]
    assert "Memory note: The festival is in Brittany." in asked and "Conversation summary" not in asked
    assert "User: yes, granite coast" in asked and "the poster needs" not in asked  # history_count=1
    # Not in the conversation.
    assert chat.messages.count() == 3 and Generation.objects.get().message is None
    assert Generation.objects.get().parameters["aspect_ratio"] == "16:9"


def test_the_modal_with_better_context_off_sends_the_prompt_as_typed(alice_api, with_gemini, http, settings):
    settings.IMAGEGEN_SYNC_WAIT_S = 5
    response = alice_api.post(reverse("api:generate-image"), {"prompt": "a fox", "better_context": False},
                              format="json")
    assert response.status_code == 200 and response.json()["refined_prompt"] is None
    assert not http.calls
