"""Posting into a chat: the user's message is always kept; the answer is a card, a reply or an error card."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

import random

from images.models import Generation
from images.services import GenerationRequestError, generation_start
from images.styles import STYLES
from profiles.models import ImageProfile

from . import intent
from .chat_model import resolve_chat_model
from .commands import CommandError, ImageCommand, help_text, is_command, parse_message
from .models import Chat, Message
from .reply import latest_image
from .summary import schedule_if_due as schedule_summary_if_due

NO_CHAT_MODEL_REPLY = (
    "No chat model is configured for this chat, so I can't answer in words yet. To chat, pick a model in the "
    "**Chat model** menu above (OpenAI, Anthropic, Gemini, OpenRouter, xAI or a self-hosted Ollama) and add its "
    "API key in Settings → API keys.\n\n"
    "I can make pictures right now, though: type `/image` followed by what you want, for example "
    "`/image a watercolour fox at dawn`, or just say \"draw me a lighthouse in a storm\". `/image help` lists "
    "the options."
)


class MessageRejected(Exception):
    """The message itself cannot be accepted (too long, empty); nothing was saved."""

    def __init__(self, message: str, *, code: str = "validation_error") -> None:
        super().__init__(message)
        self.message, self.code = message, code


def chat_create(*, owner, title: str = "") -> Chat:
    return Chat.objects.create(owner=owner, title=title.strip()[:200] or "New chat")


@transaction.atomic
def chat_message_post(*, chat: Chat, content: str) -> list[Message]:
    """Save the user's message and the assistant's answer to it; return both (the answer may be an error card)."""
    content = (content or "").strip()
    if not content:
        raise MessageRejected("Type a message first.", code="missing_prompt")
    if len(content) > settings.IMAGEGEN_MAX_MESSAGE_CHARS:
        raise MessageRejected(
            f"The message is {len(content):,} characters long; the limit is {settings.IMAGEGEN_MAX_MESSAGE_CHARS:,}."
        )
    user_message = Message.objects.create(chat=chat, role=Message.Role.USER, content=content)
    if chat.title == "New chat":
        chat.title = title_from(content)
    chat.save(update_fields=["title", "updated"])
    answer = _answer(chat, content, user_message)
    if answer.kind != Message.Kind.IMAGE and answer.metadata.get("reply") != "pending":
        schedule_summary_if_due(chat)  # this turn is complete (an image card's: when its job ends; a reply's: saved)
    return [user_message, answer]


def title_from(content: str) -> str:
    """A chat title from its first message: the prompt without the command word or options."""
    text = content
    if is_command(text):
        text = text.split(maxsplit=1)[1] if len(text.split(maxsplit=1)) > 1 else "Images"
        text = text.split(" --", 1)[0]
    return " ".join(text.split())[:60] or "New chat"


def _answer(chat: Chat, content: str, just_posted: Message) -> Message:
    try:
        command = parse_message(content)
    except CommandError as e:
        return _error_card(chat, e.message, e.code)
    if command is None:
        return _plain_answer(chat, content, just_posted)
    if command.action == "help":
        return Message.objects.create(
            chat=chat, role=Message.Role.ASSISTANT, content=help_text(), metadata={"card": "help"}
        )
    if command.action == "gallery":
        return Message.objects.create(
            chat=chat, role=Message.Role.ASSISTANT, content="This chat's images", metadata={"card": "gallery"}
        )

    return _image_answer(chat, command, just_posted=just_posted)


def _plain_answer(chat: Chat, content: str, just_posted: Message) -> Message:
    """A tool-calling chat model decides itself; otherwise the phrase rule may start an image or an edit."""
    choice = resolve_chat_model(chat.owner, chat)
    if choice is None or not choice.provider.tools:
        if prompt := intent.image_request(content):
            return _image_answer(chat, ImageCommand(action="generate", prompt=prompt), via="phrase",
                                 just_posted=just_posted)
        instruction = intent.edit_request(content)
        if instruction and _last_answer_was_image(chat):
            return _image_answer(chat, ImageCommand(action="edit", prompt=instruction), via="phrase",
                                 just_posted=just_posted)
    if choice is None:
        return Message.objects.create(chat=chat, role=Message.Role.ASSISTANT, content=NO_CHAT_MODEL_REPLY,
                                      metadata={"card": "no_chat_model"})
    # The words come from the stream (chats.reply.stream_reply), which the page opens for this message.
    return Message.objects.create(chat=chat, role=Message.Role.ASSISTANT,
                                  metadata={"reply": "pending", "model": choice.label})


def _last_answer_was_image(chat: Chat) -> bool:
    last = chat.messages.filter(role=Message.Role.ASSISTANT).order_by("-created", "-pk").first()
    return last is not None and last.kind == Message.Kind.IMAGE


def _image_answer(chat: Chat, command: ImageCommand, *, just_posted: Message, via: str = "command") -> Message:
    profile = None
    if command.profile_name:
        profile = ImageProfile.objects.for_user(chat.owner).filter(name__iexact=command.profile_name).first()
        if profile is None:
            names = ", ".join(ImageProfile.objects.for_user(chat.owner).values_list("name", flat=True)) or "none yet"
            return _error_card(chat, f"No image profile named {command.profile_name!r}. Your profiles: {names}.")
    options = dict(command.options)
    if command.action == "edit" or options.get("edit_of") is not None:
        # An edit starts from the chat's latest image, unless --image named one of the gallery's (an upload or
        # an import too); generation_start checks that it is the owner's.
        if options.get("edit_of") is None:
            source = latest_image(chat)
            if source is None:
                return _error_card(chat, "There is no image in this chat to edit yet. Make one with /image first.",
                                   "not_found")
            options["edit_of"] = source.pk
    if not options.get("raw"):
        # /image always refines, in the worker before the provider (images/services.generation_run): offline from
        # the chat's recent turns, the world note and the style, then by the chat model when the owner has one. Not
        # here: posting stays a few inserts (bench P1), and the card shows the words as typed until the job runs.
        # An /edit's instruction only by the chat model, with the source picture's prompt (chats/refine.py).
        options["better_context"] = True
    card = Message.objects.create(
        chat=chat, role=Message.Role.ASSISTANT, kind=Message.Kind.IMAGE,
        metadata={"command": command.action if command.action == "edit" else "image", "via": via},
    )
    try:
        generation_start(
            owner=chat.owner,
            prompt=command.prompt,
            options=options,
            negative_prompt=command.negative_prompt,
            chat=chat,
            message=card,
            profile=profile,
        )
    except GenerationRequestError as e:
        card.kind, card.content, card.metadata = Message.Kind.ERROR, e.message, {"code": e.code}
        if e.retry_after_s:  # our own limits: the API's Retry-After (a daily limit resets sooner than the month)
            card.metadata["retry_after_s"] = e.retry_after_s
        card.save(update_fields=["kind", "content", "metadata"])
    return card


def _error_card(chat: Chat, text: str, code: str = "validation_error") -> Message:
    return Message.objects.create(
        chat=chat, role=Message.Role.ASSISTANT, kind=Message.Kind.ERROR, content=text, metadata={"code": code}
    )


@transaction.atomic
def chat_reroll(*, generation: Generation) -> Message:
    """Same prompt and options, a new seed (SillyTavern's swipe): a new card in the chat; both stay."""
    chat = generation.chat
    if chat is None:
        raise GenerationRequestError("Only images made in a chat can be re-rolled there.", code="validation_error")
    options = {k: v for k, v in generation.parameters.items()
               if k in ("n", "aspect_ratio", "style", "raw", "edit_of", "type")}
    options["seed"] = random.randrange(2**32)
    card = Message.objects.create(chat=chat, role=Message.Role.ASSISTANT, kind=Message.Kind.IMAGE,
                                  metadata={"command": "reroll", "reroll_of": generation.pk})
    style = STYLES.get(options.get("style", ""))
    # The stored negative prompt already carries the style's negative words; don't add them twice.
    negative = generation.negative_prompt
    if style and style.negative and not options.get("raw"):
        negative = ", ".join(p for p in (p.strip() for p in negative.split(",")) if p and p not in style.negative)
    generation_start(owner=generation.owner, prompt=generation.prompt, options=options, negative_prompt=negative,
                     chat=chat, message=card, profile=generation.profile, refined_prompt=generation.refined_prompt)
    chat.save(update_fields=["updated"])
    return card
