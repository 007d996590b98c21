"""Issue 5: Chat.summary is written in the worker after every N turns (IMAGEGEN_SUMMARY_EVERY_TURNS), by the chat's
cheap model through chats/llm when the chat has one, else by an offline extractive summary; /image refinement and
the modal's "include summary" read it."""

from __future__ import annotations

import json

import pytest
import responses
from django.urls import reverse

from chats.models import Chat, ChatPreferences, Message
from chats.refine import ContextOptions, gather_context
from chats.summary import SUMMARY_SYSTEM, summarize_offline, update_summary
from imagegen_site import http as safe_http
from images.models import Generation
from images.services import generation_run
from profiles.models import ApiKey
from tests.chats.conftest import sse

pytestmark = pytest.mark.django_db
OPENAI_CHAT = "https://api.openai.com/v1/chat/completions"
SUMMARY = "Alice is designing a poster for a Breton lighthouse festival: granite cliffs, storms, teal and orange."
TURNS = ["/image a granite lighthouse in Brittany --raw", "/image the lighthouse festival poster, teal --raw",
         "/image lighthouse keepers dancing at the festival --raw", "/image a storm over the lighthouse --raw"]


@pytest.fixture
def http(monkeypatch):
    monkeypatch.setattr(safe_http, "resolve_host", lambda host, port: ["93.184.216.34"])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def every_four(settings):
    settings.IMAGEGEN_SUMMARY_EVERY_TURNS = 4


@pytest.fixture
def chat(alice):
    return Chat.objects.create(owner=alice, title="Festival")


@pytest.fixture
def with_openai(alice):
    key = ApiKey(owner=alice, provider="openai")
    key.set_secret("sk-test")
    key.save()
    ChatPreferences.objects.create(owner=alice, llm_provider="openai", llm_model="gpt-4.1-mini")


def post(client, chat, text, capture):
    with capture(execute=True):
        response = client.post(reverse("chat-message-create", args=[chat.pk]), {"content": text},
                               headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response


def completion(text: str) -> dict:
    return {"id": "c1", "object": "chat.completion", "model": "gpt-4.1-nano", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}


def test_offline_after_every_n_turns_in_the_task(alice_client, chat, every_four, django_capture_on_commit_callbacks):
    for text in TURNS[:3]:
        post(alice_client, chat, text, django_capture_on_commit_callbacks)
    chat.refresh_from_db()
    assert (chat.summary, chat.summary_through) == ("", None)  # 3 turns: not yet
    post(alice_client, chat, TURNS[3], django_capture_on_commit_callbacks)
    chat.refresh_from_db()
    assert "lighthouse" in chat.summary.lower() and "festival" in chat.summary.lower()
    assert chat.summary_through == chat.messages.order_by("pk").last().pk
    before = chat.summary
    post(alice_client, chat, "/image a fifth one --raw", django_capture_on_commit_callbacks)
    chat.refresh_from_db()
    assert chat.summary == before  # 1 new turn of 4


def test_it_is_a_queued_task_not_work_in_the_request(alice_client, chat, every_four, settings,
                                                     django_capture_on_commit_callbacks):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    from django_tasks_db.models import DBTaskResult

    for text in TURNS:
        post(alice_client, chat, text, django_capture_on_commit_callbacks)
    assert not DBTaskResult.objects.filter(task_path="chats.tasks.summarize_chat").exists()  # images still queued
    for generation in Generation.objects.filter(chat=chat).order_by("pk"):
        with django_capture_on_commit_callbacks(execute=True):  # a worker: an image card's turn ends with its job
            generation_run(generation_id=generation.pk)
    chat.refresh_from_db()
    assert chat.summary == ""  # the request did not write it...
    task = DBTaskResult.objects.get(task_path="chats.tasks.summarize_chat")
    assert task.args_kwargs["args"] == [chat.pk]
    assert update_summary(chat.pk) == "offline"  # ...the worker does
    chat.refresh_from_db()
    assert chat.summary and update_summary(chat.pk) is None  # nothing new: nothing to do


def test_the_chats_cheap_model_writes_it(alice_client, chat, every_four, with_openai, http,
                                         django_capture_on_commit_callbacks):
    http.post(OPENAI_CHAT, json=completion(f"Summary: {SUMMARY}"))
    for text in TURNS:
        post(alice_client, chat, text, django_capture_on_commit_callbacks)
    chat.refresh_from_db()
    assert chat.summary == SUMMARY
    (call,) = http.calls  # --raw: no refinement; the one chat-model call is the summary
    body = json.loads(call.request.body)
    assert body["model"] == "gpt-4.1-nano"  # the provider's cheap model, not the chat's gpt-4.1-mini
    assert body["messages"][0] == {"role": "system", "content": SUMMARY_SYSTEM}
    assert body["temperature"] == 0.2
    asked = body["messages"][1]["content"]
    assert "Summary so far:\n(none yet)" in asked and "[made an image of: a storm over the lighthouse]" in asked


def test_a_failing_model_falls_back_to_the_offline_summary(alice_client, chat, every_four, with_openai, http,
                                                           django_capture_on_commit_callbacks):
    http.post(OPENAI_CHAT, status=500, json={"error": {"message": "boom", "type": "server_error"}})
    for text in TURNS:
        post(alice_client, chat, text, django_capture_on_commit_callbacks)
    chat.refresh_from_db()
    assert "lighthouse" in chat.summary.lower() and chat.summary_through


def test_a_streamed_reply_ends_its_turn_when_it_is_saved(alice_client, chat, settings, with_openai, http,
                                                         django_capture_on_commit_callbacks):
    settings.IMAGEGEN_SUMMARY_EVERY_TURNS = 1
    http.post(OPENAI_CHAT, body=sse("openai_stream.sse"), content_type="text/event-stream")
    http.post(OPENAI_CHAT, json=completion(SUMMARY))
    post(alice_client, chat, "tell me about lighthouses", django_capture_on_commit_callbacks)
    chat.refresh_from_db()
    assert chat.summary == ""  # the reply is pending: the turn is not over
    pending = chat.messages.get(role="assistant")
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.get(reverse("chat-message-stream", args=[pending.pk]))
        b"".join(response.streaming_content)
    chat.refresh_from_db()
    assert chat.summary == SUMMARY and chat.summary_through == pending.pk
    asked = json.loads(http.calls[1].request.body)["messages"][1]["content"]
    assert "User: tell me about lighthouses" in asked and "Assistant: A lighthouse on a cliff" in asked


def test_image_refinement_and_the_modal_read_it(alice, alice_api, alice_client, chat, every_four,
                                                django_capture_on_commit_callbacks):
    assert "(none yet)" in alice_client.get(chat.get_absolute_url()).content.decode()
    for text in TURNS:
        post(alice_client, chat, text, django_capture_on_commit_callbacks)
    chat.refresh_from_db()
    assert "brittany" in chat.summary.lower() and "User:" not in chat.summary
    # The modal, summary ticked (messages not), no chat model: the offline refiner takes the summary's words.
    ticked = alice_api.post(reverse("api:generate-image"), {
        "prompt": "a poster", "conversation_id": chat.pk, "include_summary": True}, format="json").json()
    unticked = alice_api.post(reverse("api:generate-image"), {
        "prompt": "a poster", "conversation_id": chat.pk, "include_summary": False}, format="json").json()
    assert ticked["refined_prompt"].startswith("a poster; context: lighthouse")
    assert unticked["refined_prompt"] is None  # no context ticked: nothing to add
    # /image: the summary is part of the default context (chats/refine.py).
    assert f"Conversation summary: {chat.summary}" in gather_context(chat, ContextOptions())
    # The modal's checkbox no longer says there is none.
    assert "(none yet)" not in alice_client.get(chat.get_absolute_url()).content.decode()


def test_the_offline_summary_is_extractive_and_bounded():
    lines = [f"User: lighthouse number {i} on the granite coast. Something unrelated {i}." for i in range(200)]
    summary = summarize_offline("Earlier: a festival about lighthouses.", lines)
    assert 0 < len(summary) <= 1500 and "lighthouse" in summary
    assert summary.startswith("Earlier: a festival about lighthouses.")  # the old summary carries on
    assert all(f"{s.strip()}" in " ".join(lines) or s.startswith("Earlier") for s in summary.split(". ") if s)
    assert summarize_offline("", ["User: ok."]) == ""  # nothing worth keeping: no invented text
