"""Plain messages with a chat model: the streamed reply, tools, vision context, intent, edits and re-roll."""

import json

import pytest
import responses
from django.urls import reverse

from chats.models import Chat, ChatPreferences, Message
from chats.reply import build_turns, vision_images
from chats.chat_model import resolve_chat_model
from images.models import GeneratedImage, Generation
from images.providers import Capabilities, ImageRequest, ProviderImage, ProviderResult
from images.storage import store_image
from images import imaging
from profiles.models import ApiKey, ImageProfile
from tests.chats.conftest import fixture, sent_json, sse
from tests.fakes import FakeProvider, png_bytes

pytestmark = pytest.mark.django_db
OPENAI_CHAT = "https://api.openai.com/v1/chat/completions"


def post(client, chat, text, capture):
    with capture(execute=True):
        return client.post(reverse("chat-message-create", args=[chat.pk]), {"content": text},
                           headers={"HX-Request": "true"})


def stream(client, message, capture) -> list[tuple[str, dict]]:
    with capture(execute=True):
        response = client.get(reverse("chat-message-stream", args=[message.pk]))
        assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
        raw = b"".join(response.streaming_content).decode()
    events = []
    for block in raw.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


def give_key(user, provider="openai", secret="sk-test"):
    key = ApiKey(owner=user, provider=provider)
    key.set_secret(secret)
    key.save()
    return key


@pytest.fixture
def chat(alice):
    return Chat.objects.create(owner=alice)


@pytest.fixture
def with_openai(alice):
    give_key(alice)
    ChatPreferences.objects.create(owner=alice, llm_provider="openai", llm_model="gpt-4.1-mini")


def test_the_reply_streams_and_is_saved(alice_client, chat, with_openai, http, django_capture_on_commit_callbacks):
    http.post(OPENAI_CHAT, body=sse("openai_stream.sse"), content_type="text/event-stream")
    response = post(alice_client, chat, "tell me about lighthouses", django_capture_on_commit_callbacks)
    html = response.content.decode()
    pending = chat.messages.get(role="assistant")
    assert pending.metadata["reply"] == "pending" and 'data-stream-url="' in html  # the page opens the stream

    events = stream(alice_client, pending, django_capture_on_commit_callbacks)
    assert [e for e, _ in events] == ["delta", "delta", "done"]
    assert events[0][1] == {"text": "A lighthouse"}
    assert "lit at dusk." in events[-1][1]["html"] and "streaming" not in events[-1][1]["html"]
    pending.refresh_from_db()
    assert pending.content == "A lighthouse on a cliff,\nlit at dusk." and pending.metadata["reply"] == "done"
    body = sent_json(http.calls[0])
    assert body["messages"][-1] == {"role": "user", "content": "tell me about lighthouses"}
    assert body["tools"][0]["function"]["name"] == "generate_image"

    # A second stream (a reconnecting browser) replays the saved words and never calls the model again.
    again = stream(alice_client, pending, django_capture_on_commit_callbacks)
    assert again[0] == ("delta", {"text": "A lighthouse on a cliff,\nlit at dusk."}) and len(http.calls) == 1


def test_a_failed_model_call_becomes_an_error_card(alice_client, chat, with_openai, http,
                                                   django_capture_on_commit_callbacks):
    fx = fixture("openai_error_401.json")
    http.post(OPENAI_CHAT, json=fx["json"], status=401)
    post(alice_client, chat, "hello", django_capture_on_commit_callbacks)
    message = chat.messages.get(role="assistant")
    events = stream(alice_client, message, django_capture_on_commit_callbacks)
    assert events[0][0] == "problem" and "rejected the API key" in events[0][1]["text"]
    message.refresh_from_db()
    assert message.kind == "error" and message.metadata["code"] == "provider_auth_failed"
    assert chat.messages.filter(role="user", content="hello").exists()  # the person's words are kept


def test_a_missing_key_says_where_to_add_it(alice_client, chat, alice, django_capture_on_commit_callbacks):
    ChatPreferences.objects.create(owner=alice, llm_provider="anthropic")
    post(alice_client, chat, "hello", django_capture_on_commit_callbacks)
    events = stream(alice_client, chat.messages.get(role="assistant"), django_capture_on_commit_callbacks)
    assert "Settings → API keys" in events[0][1]["text"]


def test_the_model_can_start_an_image_with_the_tool(alice_client, chat, with_openai, http,
                                                     django_capture_on_commit_callbacks):
    http.post(OPENAI_CHAT, body=sse("openai_tool_stream.sse"), content_type="text/event-stream")
    post(alice_client, chat, "could you show the lighthouse in a storm", django_capture_on_commit_callbacks)
    events = stream(alice_client, chat.messages.get(role="assistant"), django_capture_on_commit_callbacks)
    assert [e for e, _ in events] == ["delta", "card", "done"]
    generation = Generation.objects.get()
    assert generation.prompt == "A lighthouse in a storm, crashing waves"
    assert generation.parameters["aspect_ratio"] == "16:9" and generation.status == "succeeded"
    assert generation.message.metadata["via"] == "tool"
    assert f'id="generation-{generation.pk}"' in events[1][1]["html"]


def test_a_chat_can_turn_its_model_off_or_pick_another(alice_client, chat, alice, with_openai):
    assert resolve_chat_model(alice, chat).model == "gpt-4.1-mini"
    alice_client.post(reverse("chat-model-update", args=[chat.pk]), {"llm_provider": "gemini", "llm_model": ""})
    chat.refresh_from_db()
    assert resolve_chat_model(alice, chat).model == "gemini-2.5-flash"
    alice_client.post(reverse("chat-model-update", args=[chat.pk]), {"llm_provider": "off", "llm_model": ""})
    chat.refresh_from_db()
    assert resolve_chat_model(alice, chat) is None


# --- vision -------------------------------------------------------------------------------------------------------

def image_turn(chat, n_images: int, colour: int) -> Message:
    Message.objects.create(chat=chat, role="user", content=f"/image thing {colour}")
    card = Message.objects.create(chat=chat, role="assistant", kind="image")
    generation = Generation.objects.create(owner=chat.owner, chat=chat, message=card, provider="offline",
                                           prompt=f"thing {colour}", status="succeeded")
    for i in range(n_images):
        clean = imaging.sanitize(png_bytes(8, 8, (colour, i * 20, 0)))
        file, thumb = store_image(chat.owner_id, clean)
        GeneratedImage.objects.create(generation=generation, owner=chat.owner, index=i, file=file, thumbnail=thumb,
                                      sha256=clean.sha256, width=8, height=8, mime_type=clean.mime_type,
                                      bytes=len(clean.data))
    return card


def test_vision_sends_exactly_the_last_three_turns_images_at_most_two_each(chat, alice, with_openai):
    image_turn(chat, 1, 10)  # turn 1: too old
    image_turn(chat, 3, 20)  # turn 2
    Message.objects.create(chat=chat, role="user", content="nice")
    Message.objects.create(chat=chat, role="assistant", content="thanks")  # turn 3: words only
    image_turn(chat, 1, 30)  # turn 4
    question = Message.objects.create(chat=chat, role="user", content="what colour is it?")
    images = vision_images(chat, before=question)
    # The last 6 messages before the question: turn 2 (3 images → 2), turn 3, turn 4 (1 image).
    assert len(images) == 3
    expected = [GeneratedImage.objects.get(generation__prompt="thing 20", index=0),
                GeneratedImage.objects.get(generation__prompt="thing 20", index=1),
                GeneratedImage.objects.get(generation__prompt="thing 30", index=0)]
    from django.core.files.storage import default_storage
    assert [data for data, _ in images] == [default_storage.open(i.file).read() for i in expected]

    turns = build_turns(chat, upto=question, choice=resolve_chat_model(alice, chat))
    assert turns[-1].text == "what colour is it?" and len(turns[-1].images) == 3
    assert turns[1].text == "[made an image of: thing 10]"  # earlier image turns are described in words


def test_a_model_without_vision_gets_no_images(chat, alice):
    ChatPreferences.objects.create(owner=alice, llm_provider="openai", llm_model="gpt-3.5-turbo")
    image_turn(chat, 2, 40)
    question = Message.objects.create(chat=chat, role="user", content="and now?")
    turns = build_turns(chat, upto=question, choice=resolve_chat_model(alice, chat))
    assert all(not t.images for t in turns)


def test_vision_images_reach_the_wire_as_image_parts(alice_client, chat, with_openai, http,
                                                     django_capture_on_commit_callbacks):
    image_turn(chat, 1, 50)
    http.post(OPENAI_CHAT, body=sse("openai_stream.sse"), content_type="text/event-stream")
    post(alice_client, chat, "make a caption for it", django_capture_on_commit_callbacks)
    stream(alice_client, chat.messages.filter(role="assistant").last(), django_capture_on_commit_callbacks)
    last = sent_json(http.calls[0])["messages"][-1]
    assert last["content"][0] == {"type": "text", "text": "make a caption for it"}
    assert last["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")


# --- plain-language intent without a tool model, edits, re-roll -----------------------------------------------------

def test_without_a_chat_model_a_plain_request_makes_an_image(alice_client, chat, django_capture_on_commit_callbacks):
    post(alice_client, chat, "draw me a lighthouse in a storm", django_capture_on_commit_callbacks)
    generation = Generation.objects.get()
    assert generation.prompt == "a lighthouse in a storm" and generation.status == "succeeded"
    assert generation.message.metadata["via"] == "phrase"


def test_without_a_chat_model_an_ordinary_message_gets_the_help_reply(alice_client, chat,
                                                                       django_capture_on_commit_callbacks):
    post(alice_client, chat, "how do I draw a circle in CSS?", django_capture_on_commit_callbacks)
    assert not Generation.objects.exists()
    assert "/image" in chat.messages.get(role="assistant").content


class EditingFake(FakeProvider):
    kind = "fakeedit"
    capabilities = Capabilities(edit=True, n_max=4, aspect_ratios=("1:1", "16:9"), needs_key=False, seed=True)
    edits: list[ImageRequest] = []

    def edit(self, request: ImageRequest) -> ProviderResult:
        type(self).edits.append(request)
        return ProviderResult(images=[ProviderImage(data=png_bytes(32, 32, (0, 0, 0)), mime_type="image/png")])


@pytest.fixture
def editing_profile(alice, monkeypatch):
    from images.providers import PROVIDERS

    monkeypatch.setitem(PROVIDERS, "fakeedit", ("Fake editor", "tests.chats.test_chat_reply.EditingFake"))
    EditingFake.reset()
    EditingFake.edits = []
    return ImageProfile.objects.create(owner=alice, name="editor", provider="fakeedit", is_default=True)


def test_edit_sends_the_parent_image_to_the_provider(alice_client, chat, editing_profile,
                                                     django_capture_on_commit_callbacks):
    post(alice_client, chat, "/image a red fox", django_capture_on_commit_callbacks)
    parent = GeneratedImage.objects.get()
    post(alice_client, chat, "/edit make it darker", django_capture_on_commit_callbacks)
    edit = Generation.objects.get(parameters__edit_of=parent.pk)
    assert edit.status == "succeeded", edit.error_message
    from django.core.files.storage import default_storage
    (sent,) = EditingFake.edits
    assert sent.input_images == ((default_storage.open(parent.file).read(), parent.mime_type),)
    assert sent.prompt == "make it darker"
    page = alice_client.get(chat.get_absolute_url()).content.decode()
    assert f"edit of <a href=\"{reverse('gallery-detail', args=[parent.pk])}\">" in page

    # "make it brighter" right after an image is an edit too (the phrase rule), with no chat model.
    post(alice_client, chat, "make it brighter", django_capture_on_commit_callbacks)
    assert [r.prompt for r in EditingFake.edits] == ["make it darker", "make it brighter"]


def test_edit_with_a_provider_that_cannot_edit_names_those_that_can(alice, alice_client, chat, fake_provider,
                                                                     django_capture_on_commit_callbacks):
    ImageProfile.objects.create(owner=alice, name="Fake", provider="fake", is_default=True)  # generate-only
    post(alice_client, chat, "/image a red fox", django_capture_on_commit_callbacks)
    post(alice_client, chat, "/edit make it darker", django_capture_on_commit_callbacks)
    card = chat.messages.filter(role="assistant").last()
    assert card.kind == "error" and "cannot edit images" in card.content
    assert "OpenAI" in card.content and "Google Gemini" in card.content and "Offline" in card.content
    assert Generation.objects.count() == 1


def test_edit_without_an_image_says_so(alice_client, chat, django_capture_on_commit_callbacks):
    post(alice_client, chat, "/edit make it darker", django_capture_on_commit_callbacks)
    assert "no image in this chat" in chat.messages.filter(role="assistant").last().content


def test_reroll_keeps_both_with_the_same_prompt_and_a_new_seed(alice_client, chat,
                                                               django_capture_on_commit_callbacks):
    post(alice_client, chat, "/image a lighthouse --ar 16:9 --seed 5 --style sketch", django_capture_on_commit_callbacks)
    first = Generation.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(reverse("generation-reroll", args=[first.pk]), headers={"HX-Request": "true"})
    assert response.status_code == 200
    second = Generation.objects.exclude(pk=first.pk).get()
    assert second.status == "succeeded"
    assert (second.prompt, second.refined_prompt, second.negative_prompt) == \
        (first.prompt, first.refined_prompt, first.negative_prompt)
    assert second.parameters["aspect_ratio"] == "16:9" and second.parameters["style"] == "sketch"
    assert second.parameters["seed"] != 5
    assert chat.messages.filter(kind="image").count() == 2


def test_the_api_answers_with_the_whole_reply(alice_api, chat, with_openai, http, django_capture_on_commit_callbacks):
    http.post(OPENAI_CHAT, body=sse("openai_stream.sse"), content_type="text/event-stream")
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.post(reverse("api:chat-messages", args=[chat.pk]), {"content": "hi"}, format="json")
    assert response.status_code == 201
    reply = response.json()["messages"][1]
    assert reply["content"] == "A lighthouse on a cliff,\nlit at dusk." and reply["metadata"]["reply"] == "done"


def test_a_phrase_request_through_the_api_starts_a_generation(alice_api, chat, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.post(reverse("api:chat-messages", args=[chat.pk]),
                                  {"content": "draw me a lighthouse in a storm"}, format="json")
    assert response.status_code == 202 and Generation.objects.get(pk=response.json()["generation"])


def test_edit_works_out_of_the_box_on_the_offline_renderer(alice_client, chat, django_capture_on_commit_callbacks):
    """No key, no profile: /image then /edit both run on the built-in renderer, and the card says what it did."""
    post(alice_client, chat, "/image a red fox --seed 4", django_capture_on_commit_callbacks)
    parent = GeneratedImage.objects.get()
    post(alice_client, chat, "/edit make it darker", django_capture_on_commit_callbacks)
    edit = Generation.objects.get(parameters__edit_of=parent.pk)
    assert edit.status == "succeeded" and edit.provider == "offline", edit.error_message
    child = edit.images.get()
    assert (child.width, child.height) == (parent.width, parent.height) and child.sha256 != parent.sha256
    page = alice_client.get(chat.get_absolute_url()).content.decode()
    assert "Offline edit (not AI): darker." in page
    assert "Instruction sent with the image as typed" in page  # no chat model: not "Refined (offline)"
