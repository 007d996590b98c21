"""The chat model's answer to a plain message, streamed: history, vision context, tools, and persisting the reply.

The assistant message is created "pending" when the person posts; the page then opens the stream, which claims
the message (compare-and-set, so a reconnecting browser never runs the model twice), streams the words, starts
an image if the model calls generate_image or edit_image, and saves what was said even if the browser goes away.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterator

from django.core.files.storage import default_storage
from django.db import transaction

from images.models import GeneratedImage, Generation
from images.providers.base import ProviderError
from images.services import GenerationRequestError, generation_start

from .chat_model import chat_client, resolve_chat_model
from .llm import ChatModelChoice, ChatRequest, ChatTurn, TextDelta, Tool, ToolCall
from .models import Chat, Message
from .refine import message_text
from .summary import schedule_if_due as schedule_summary_if_due

logger = logging.getLogger(__name__)

HISTORY_MESSAGES = 20
VISION_MESSAGES = 6  # the last 3 turns (seed 000)
VISION_PER_MESSAGE = 2
REPLY_MAX_TOKENS = 2000

SYSTEM_PROMPT = (
    "You are the assistant of imagegen, a chat app that makes pictures. Answer briefly and helpfully. When the "
    "person asks for a new picture, call generate_image with a detailed, visual prompt. When they ask to change "
    "the most recent picture, call edit_image with the change. Pictures made earlier in this chat may be attached "
    "to their latest message so you can see them. People can also type /image <prompt> themselves."
)

# Seed 002's generate_image schema (size, style, quality, count), plus edit_image for follow-ups.
GENERATE_IMAGE = Tool(
    name="generate_image",
    description="Generate an image based on a text description.",
    parameters={
        "type": "object",
        "properties": {
            "prompt": {"type": "string", "description": "A detailed description of the image to generate."},
            "size": {"type": "string", "enum": ["1024x1024", "1792x1024", "1024x1792"],
                     "description": "Image dimensions."},
            "style": {"type": "string", "enum": ["vivid", "natural"], "description": "Image style."},
            "quality": {"type": "string", "enum": ["standard", "hd"], "description": "Image quality."},
            "count": {"type": "integer", "minimum": 1, "maximum": 4, "description": "Number of images to generate."},
        },
        "required": ["prompt"],
    },
)
EDIT_IMAGE = Tool(
    name="edit_image",
    description="Change the most recent image in this chat (for example: make it darker, add a hat).",
    parameters={
        "type": "object",
        "properties": {"instruction": {"type": "string", "description": "What to change, in plain words."}},
        "required": ["instruction"],
    },
)
SIZE_TO_RATIO = {"1024x1024": "1:1", "1792x1024": "16:9", "1024x1792": "9:16"}


@dataclass
class ReplyEvent:
    kind: str  # "delta" (text), "message" (a new card in the chat), "error", "done"
    text: str = ""
    message: Message | None = None


def vision_images(chat: Chat, *, before: Message) -> list[tuple[bytes, str]]:
    """The images of the last 3 turns before `before`, at most 2 per message, read from our storage."""
    recent = list(chat.messages.filter(pk__lt=before.pk).order_by("-created", "-pk")[:VISION_MESSAGES])[::-1]
    ids = [m.pk for m in recent if m.role == Message.Role.ASSISTANT and m.kind == Message.Kind.IMAGE]
    images: list[tuple[bytes, str]] = []
    generations = Generation.objects.filter(message_id__in=ids, owner=chat.owner,
                                            status=Generation.Status.SUCCEEDED).order_by("message_id")
    for generation in generations:
        for image in generation.images.order_by("index")[:VISION_PER_MESSAGE]:
            try:
                with default_storage.open(image.file, "rb") as handle:
                    images.append((handle.read(), image.mime_type))
            except FileNotFoundError:
                logger.warning("image %s is missing from storage; not sent to the chat model", image.pk)
    return images


def build_turns(chat: Chat, *, upto: Message, choice: ChatModelChoice) -> list[ChatTurn]:
    """The conversation up to and including the person's message `upto`, as chat turns; images ride with it."""
    history = list(chat.messages.filter(pk__lte=upto.pk).exclude(kind=Message.Kind.ERROR)
                   .select_related("generation").order_by("-created", "-pk")[:HISTORY_MESSAGES])[::-1]
    turns = []
    for message in history:
        if message.metadata.get("reply") in ("pending", "streaming"):
            continue  # (filtered here: a JSON-key exclude() also drops rows without the key, in SQL)
        text = message_text(message) if message.kind == Message.Kind.IMAGE else message.content
        if not text.strip():
            continue
        role = "user" if message.role == Message.Role.USER else "assistant"
        turns.append(ChatTurn(role, text))
    if choice.sees_images and turns and turns[-1].role == "user":
        images = tuple(vision_images(chat, before=upto))
        if images:
            turns[-1] = ChatTurn("user", turns[-1].text, images)
    return turns


def _claim(message: Message) -> bool:
    meta = {**message.metadata, "reply": "streaming"}
    claimed = Message.objects.filter(pk=message.pk, metadata__reply="pending").update(metadata=meta)
    if claimed:
        message.metadata = meta
    return bool(claimed)


def _start_image(chat: Chat, call: ToolCall) -> Message:
    """A card for the model's tool call; an error card if the arguments or the request are not acceptable."""
    args = call.arguments
    card = Message.objects.create(chat=chat, role=Message.Role.ASSISTANT, kind=Message.Kind.IMAGE,
                                  metadata={"command": call.name, "via": "tool"})
    try:
        with transaction.atomic():
            if call.name == "edit_image":
                source = latest_image(chat)
                if source is None:
                    raise GenerationRequestError("There is no image in this chat to edit yet.", code="not_found")
                generation_start(owner=chat.owner, prompt=str(args.get("instruction") or ""),
                                 options={"edit_of": source.pk}, chat=chat, message=card)
            else:
                options: dict = {}
                count = args.get("count")
                if isinstance(count, int) and 1 <= count <= 4:
                    options["n"] = count
                if args.get("size") in SIZE_TO_RATIO:
                    options["aspect_ratio"] = SIZE_TO_RATIO[args["size"]]
                prompt = str(args.get("prompt") or "")
                # The model wrote a detailed prompt already: that is the refinement.
                generation_start(owner=chat.owner, prompt=prompt, options=options, chat=chat, message=card,
                                 refined_prompt=prompt)
    except GenerationRequestError as e:
        card.kind, card.content, card.metadata = Message.Kind.ERROR, e.message, {"code": e.code}
        card.save(update_fields=["kind", "content", "metadata"])
    return card


def latest_image(chat: Chat) -> GeneratedImage | None:
    return (GeneratedImage.objects.for_user(chat.owner)
            .filter(generation__chat=chat, generation__status=Generation.Status.SUCCEEDED)
            .order_by("-generation__queued_at", "-generation__pk", "index").first())


def stream_reply(message: Message) -> Iterator[ReplyEvent]:
    """Run the chat model for a pending assistant message, yielding its words as they come."""
    chat = message.chat
    if not _claim(message):
        # Already answered (or being answered by another request): replay what is saved.
        message.refresh_from_db()
        if message.content:
            yield ReplyEvent("delta", message.content)
        yield ReplyEvent("done")
        return
    user_message = chat.messages.filter(pk__lt=message.pk, role=Message.Role.USER).order_by("-pk").first()
    choice = resolve_chat_model(chat.owner, chat)
    parts: list[str] = []
    error: ProviderError | None = None
    try:
        if choice is None or user_message is None:
            raise ProviderError("No chat model is configured for this chat.", code="validation_error")
        client = chat_client(chat.owner, choice)
        request = ChatRequest(model=choice.model, system=SYSTEM_PROMPT,
                              messages=tuple(build_turns(chat, upto=user_message, choice=choice)),
                              max_tokens=REPLY_MAX_TOKENS,
                              tools=(GENERATE_IMAGE, EDIT_IMAGE) if choice.provider.tools else ())
        for event in client.stream(request):
            if isinstance(event, TextDelta):
                parts.append(event.text)
                yield ReplyEvent("delta", event.text)
            elif isinstance(event, ToolCall) and event.name in ("generate_image", "edit_image"):
                yield ReplyEvent("message", message=_start_image(chat, event))
    except ProviderError as e:
        error = e
        yield ReplyEvent("error", e.message)
    finally:
        # Runs on success, on error, and when the browser disconnects mid-stream (the generator is closed).
        _save(message, "".join(parts), error, choice)
    yield ReplyEvent("done")


def _save(message: Message, text: str, error: ProviderError | None, choice: ChatModelChoice | None) -> None:
    meta = {key: value for key, value in message.metadata.items() if key != "reply"}
    meta["reply"] = "done"
    if choice is not None:
        meta["model"] = choice.label
    if error is not None and not text.strip():
        message.kind, message.content = Message.Kind.ERROR, error.message
        meta["code"] = error.code
    else:
        message.content = text
        if error is not None:
            meta["error"] = error.message
    message.metadata = meta
    message.save(update_fields=["kind", "content", "metadata"])
    schedule_summary_if_due(message.chat)  # the turn is complete: the worker may rewrite the chat's summary


def complete_reply(message: Message) -> list[Message]:
    """The API's path: run the stream to the end; returns the reply and any cards the model started."""
    created = [event.message for event in stream_reply(message) if event.kind == "message" and event.message]
    message.refresh_from_db()
    return [message, *created]
