"""Better context: turn a raw image prompt plus the conversation into one refined prompt (seed 000).

Gather context (the chat summary, the last N messages, optionally the chat's memory note), then ask a cheap chat
model with the image-prompt-engineer system prompt at temperature 0.4 and at most 500 tokens. When there is no
chat model, or the call fails or answers nothing, an offline refiner combines the raw prompt, the style preset and
salient words of recent messages: deterministic, instant, no network.

A chat /edit's instruction is refined too, by its own system prompt (EDIT_CONTEXT_SYSTEM) with the source picture's
prompt: one short instruction of what to change, never a new scene. Its offline fallback is the instruction as
typed: context words glued onto an edit instruction would confuse the editing model.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import F

from images.providers.base import ProviderError
from images.styles import STYLES, Style
from profiles.world_notes import with_world_note, world_note_for

from . import prompt_cache
from .commands import is_command
from .llm import ChatClient, ChatRequest, ChatTurn
from .models import Chat, Message

logger = logging.getLogger(__name__)

BETTER_CONTEXT_SYSTEM = (
    "You write prompts for an image model. You receive a person's raw image request and, sometimes, what was "
    "said in their conversation before it. Write ONE refined prompt that keeps everything they asked for, brings "
    "in the details from the conversation that matter to the picture, is concrete and visual, and names style, "
    "mood, lighting and composition when the request leaves them open. Drop chatter, questions and instructions "
    "meant for you. Answer with the prompt only: 1 to 4 sentences, no quotes, no preamble."
)
EDIT_CONTEXT_SYSTEM = (
    "You write instructions for an image-editing model, which receives an existing picture and your instruction. "
    "You receive a person's raw edit request, the prompt the picture was made from and, sometimes, what was said "
    "in their conversation before it. Write ONE concise edit instruction that says exactly what to change, with "
    "the details from the conversation the request refers to, and says to keep everything else as it is. Never "
    "describe the whole scene anew. Drop chatter, questions and instructions meant for you. Answer with the "
    "instruction only: 1 or 2 sentences, no quotes, no preamble."
)
TEMPERATURE = 0.4
MAX_TOKENS = 500
MAX_REFINED_CHARS = 1500
MESSAGE_CHARS = 600

STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers him
his how i if in into is it its itself just me more most my no nor not now of off on once only or other our ours out
over own same she should so some such than that the their theirs them then there these they this those through to
too under until up very was we were what when where which while who whom why will with would you your yours
image images picture pictures photo draw make made makes like want wants please thanks thank okay yes maybe really
something thing things think know going could would should here there sure great nice good cool right well just
""".split())
WORD = re.compile(r"[A-Za-z][A-Za-z'-]{3,}")


@dataclass(frozen=True)
class ContextOptions:
    include_summary: bool = True
    include_messages: bool = True
    history_count: int = 2  # turns; each turn is the person's message and the answer
    include_memory: bool = False


def _before(chat: Chat, *, before: Message | None):
    """A chat's messages before `before`, newest first, error cards out: the turns the context is made of."""
    qs = chat.messages.exclude(kind=Message.Kind.ERROR)
    if before is not None and before.pk:
        # "id + 0", not "id": a bare id range makes SQLite walk the chat_id index and sort every message of the
        # chat (3 ms at 2,000 messages); this way it reads the newest few from message_chat_order. Same rows.
        qs = qs.alias(id_value=F("pk") + 0).filter(id_value__lt=before.pk)
    return qs.order_by("-created", "-pk")


def recent_messages(chat: Chat, *, history_count: int, before: Message | None = None) -> list[Message]:
    return list(_before(chat, before=before).select_related("generation")[: max(history_count, 0) * 2])[::-1]


def message_text(message: Message) -> str:
    """What a message said, in words: an image card is the prompt that made it."""
    generation = getattr(message, "generation", None) if message.kind == Message.Kind.IMAGE else None
    return _text(message.role, message.kind, message.content, generation.used_prompt if generation else None)


def _text(role: str, kind: str, content: str, used_prompt: str | None) -> str:
    if kind == Message.Kind.IMAGE:
        return f"[made an image of: {used_prompt}]" if used_prompt is not None else ""
    text = content
    if role == Message.Role.USER and is_command(text):
        text = text.split(maxsplit=1)[1] if len(text.split(maxsplit=1)) > 1 else ""
        text = text.split(" --", 1)[0]
    return text[:MESSAGE_CHARS]


def gather_context(chat: Chat | None, options: ContextOptions, *, before: Message | None = None) -> list[str]:
    if chat is None:
        return []
    parts = []
    if options.include_summary and chat.summary.strip():
        parts.append(f"Conversation summary: {chat.summary.strip()[:2000]}")
    if options.include_memory and chat.memory.strip():
        parts.append(f"Memory note: {chat.memory.strip()[:2000]}")
    if options.include_messages:
        # recent_messages' rows, as the five columns read here: every /image post asks this (bench P1), and whole
        # rows with their generations take twice as long to build as the query takes to run.
        rows = _before(chat, before=before).values_list(
            "role", "kind", "content", "generation__prompt", "generation__refined_prompt"
        )[: max(options.history_count, 0) * 2]
        for role, kind, content, prompt, refined in reversed(rows):
            text = _text(role, kind, content, (refined or prompt) if prompt is not None else None).strip()
            if text:
                who = "User" if role == Message.Role.USER else "Assistant"
                parts.append(f"{who}: {text}")
    return parts


def salient_words(texts: list[str], prompt: str, *, limit: int = 6) -> list[str]:
    """Content words of the context the prompt does not already have: most frequent first, ties by first use."""
    have = {w.lower() for w in WORD.findall(prompt)}
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    for text in texts:
        # Context lines start "User: "/"Assistant: "; those labels are not content.
        for word in WORD.findall(text.split(": ", 1)[-1]):
            w = word.lower().strip("'-")
            if w in STOPWORDS or w in have or len(w) < 4:
                continue
            counts[w] += 1
            first.setdefault(w, len(first))
    return sorted(counts, key=lambda w: (-counts[w], first[w]))[:limit]


def refine_offline(prompt: str, *, style: Style | None = None, context: list[str] = (), world_note: str = "") -> str:
    """The owner's world note for the image type first, then the prompt, context words and the style's suffix."""
    refined = prompt.strip()
    words = salient_words(list(context), refined)
    if words:
        refined = f"{refined}; context: {', '.join(words)}"
    refined = with_world_note(refined, world_note)
    if style:
        refined = f"{refined}, {style.suffix}"
    return refined


def refine_with_llm(client: ChatClient, model: str, prompt: str, *, style: Style | None = None,
                    context: list[str] = ()) -> str:
    """One refined prompt from the chat model; ProviderError if it fails or answers nothing usable."""
    lines = []
    if context:
        lines.append("Conversation context:\n" + "\n".join(context))
    lines.append(f"Raw image prompt: {prompt}")
    if style:
        lines.append(f"Style to keep: {style.name} ({style.suffix})")
    return _ask(client, model, BETTER_CONTEXT_SYSTEM, lines, style=style)


def refine_edit_with_llm(client: ChatClient, model: str, instruction: str, *, source_prompt: str = "",
                         style: Style | None = None, context: list[str] = ()) -> str:
    """One edit instruction from the chat model (EDIT_CONTEXT_SYSTEM); ProviderError if it fails or answers nothing."""
    lines = []
    if context:
        lines.append("Conversation context:\n" + "\n".join(context))
    if source_prompt:
        lines.append(f"The picture was made from this prompt: {source_prompt}")
    lines.append(f"Raw edit request: {instruction}")
    if style:
        lines.append(f"Style to keep: {style.name} ({style.suffix})")
    return _ask(client, model, EDIT_CONTEXT_SYSTEM, lines, style=style)


def _ask(client: ChatClient, model: str, system: str, lines: list[str], *, style: Style | None) -> str:
    request = ChatRequest(model=model, system=system, messages=(ChatTurn("user", "\n\n".join(lines)),),
                          temperature=TEMPERATURE, max_tokens=MAX_TOKENS)
    text = " ".join(client.complete(request).split()).strip().strip('"“”').strip()
    text = re.sub(r"^(refined prompt|prompt|edit instruction|instruction)\s*:\s*", "", text, flags=re.I)
    if not text:
        raise ProviderError("The chat model answered with an empty prompt.", code="empty_response")
    if style and style.suffix.lower() not in text.lower():
        text = f"{text.rstrip('.')}, {style.suffix}"  # the preset is the person's explicit choice: keep it
    return text[:MAX_REFINED_CHARS]


def refine(prompt: str, *, style_slug: str = "", context: list[str] = (), client: ChatClient | None = None,
           model: str = "") -> tuple[str, str]:
    """(refined prompt, how): "llm" when the chat model wrote it, else "offline"."""
    style = STYLES.get(style_slug or "")
    if client is not None and model:
        try:
            return refine_with_llm(client, model, prompt, style=style, context=context), "llm"
        except ProviderError as e:
            logger.info("prompt refinement fell back to offline: %s", e.code)
    return refine_offline(prompt, style=style, context=context), "offline"


def refine_edit(instruction: str, *, source_prompt: str = "", style_slug: str = "", context: list[str] = (),
                client: ChatClient | None = None, model: str = "") -> tuple[str, str]:
    """(edit instruction, how): "llm" when the chat model rewrote it, else the instruction as typed, "offline"."""
    if client is not None and model:
        try:
            return refine_edit_with_llm(client, model, instruction, source_prompt=source_prompt,
                                        style=STYLES.get(style_slug or ""), context=context), "llm"
        except ProviderError as e:
            logger.info("edit refinement fell back to the instruction as typed: %s", e.code)
    return instruction.strip(), "offline"


def refine_cached(owner, choice, prompt: str, *, style_slug: str, context: list[str],
                  make_client: Callable[[], ChatClient], source_prompt: str | None = None) -> tuple[str, str]:
    """refine() through the prompt cache (chats/prompt_cache.py): (text, "cache") when the same owner asked the same
    refiner the same thing before; otherwise the LLM is asked (make_client may raise ProviderError) and its answer
    kept. Offline fallbacks are not cached: they are free. With `source_prompt` (not None), `prompt` is an edit
    instruction for the picture made from it: refine_edit, cached apart from generations."""
    edit = source_prompt is not None
    key = prompt_cache.key_for(owner, prompt, context=context, style_slug=style_slug, choice=choice,
                               mode=prompt_cache.EDIT if edit else prompt_cache.GENERATE,
                               source_prompt=source_prompt or "")
    cached = prompt_cache.lookup(key)
    if cached is not None:
        return cached, "cache"
    if edit:
        refined, how = refine_edit(prompt, source_prompt=source_prompt, style_slug=style_slug, context=context,
                                   client=make_client(), model=choice.model)
    else:
        refined, how = refine(prompt, style_slug=style_slug, context=context, client=make_client(),
                              model=choice.model)
    if how == "llm":
        prompt_cache.store(key, refined)
    return refined, how


def refine_generation_offline(generation) -> None:
    """A chat /image's first refinement, in the worker before the moderation check (not in the request, so posting
    stays a few inserts: bench P1): salient words of the chat's recent turns, the owner's world note for the image
    type and the style, with no network. The chat model's refinement, when there is one, comes next and replaces it."""
    if generation.parameters.get("refined_by"):
        return  # an earlier attempt's chat model refined it already (a retry): keep that
    if generation.parameters.get("edit_of") is not None:
        return  # an edit goes as typed unless the chat model rewrites it: "; context: …" would confuse the editor
    style = STYLES.get(generation.parameters.get("style", ""))
    context = gather_context(generation.chat, ContextOptions(), before=generation.message)
    refined = refine_offline(generation.prompt, style=style, context=context,
                             world_note=world_note_for(generation.owner, generation.parameters.get("type", "")))
    if refined != generation.refined_prompt:
        generation.refined_prompt = refined
        type(generation).objects.filter(pk=generation.pk).update(refined_prompt=refined)


def refine_generation_prompt(generation) -> None:
    """The worker's step before the provider for a generation marked better_context, after refine_generation_offline
    and the moderation check: ask the chat model (when the owner has one) to refine the prompt with the chat's
    context; for an edit, to rewrite the instruction with the source picture's prompt (EDIT_CONTEXT_SYSTEM). On any
    failure the offline prompt (an edit's: the instruction as typed) stays."""
    from .chat_model import chat_client, cheap_model, resolve_chat_model

    choice = resolve_chat_model(generation.owner, generation.chat)
    if choice is None:
        return
    context = gather_context(generation.chat, ContextOptions(), before=generation.message)
    choice = cheap_model(choice)
    try:
        refined, how = refine_cached(generation.owner, choice, generation.prompt,
                                     style_slug=generation.parameters.get("style", ""), context=context,
                                     make_client=lambda: chat_client(generation.owner, choice),
                                     source_prompt=edit_source_prompt(generation))
    except ProviderError as e:
        logger.info("prompt refinement skipped: %s", e.code)
        return
    if how in ("llm", "cache"):
        # World notes go on after the chat model (and after the cache, which stays keyed by the person's words).
        refined = with_world_note(refined, world_note_for(generation.owner, generation.parameters.get("type", "")))
        generation.refined_prompt = refined
        label = f"{choice.label} (cached)" if how == "cache" else choice.label
        generation.parameters = {**generation.parameters, "refined_by": label}
        type(generation).objects.filter(pk=generation.pk).update(refined_prompt=refined,
                                                                 parameters=generation.parameters)


def edit_source_prompt(generation) -> str | None:
    """An edit's source picture's prompt, as used ("" when unknown: gone, or an upload with no description); None
    when the generation is not an edit. Only the owner's own image is read."""
    from images.models import GeneratedImage

    image_id = generation.parameters.get("edit_of")
    if image_id is None:
        return None
    row = (GeneratedImage.objects.for_user(generation.owner).filter(pk=image_id)
           .values_list("generation__refined_prompt", "generation__prompt").first())
    return (row[0] or row[1] or "") if row else ""


def refine_for_request(owner, prompt: str, *, chat: Chat | None, style_slug: str = "",
                       options: ContextOptions = ContextOptions(include_summary=False, include_messages=False),
                       better_context: bool = True, image_type: str = "") -> tuple[str, str]:
    """The modal's refinement, in the request: (refined prompt, how) with the context the person ticked, the
    owner's world note for `image_type` in front; ("", "off") when Better context is off (generation_start then
    adds the world note and the style)."""
    if not better_context:
        return "", "off"
    refined, how = _refine_for_request(owner, prompt, chat=chat, style_slug=style_slug, options=options)
    return with_world_note(refined, world_note_for(owner, image_type)), how


def _refine_for_request(owner, prompt: str, *, chat: Chat | None, style_slug: str,
                        options: ContextOptions) -> tuple[str, str]:
    from .chat_model import chat_client, cheap_model, resolve_chat_model

    context = gather_context(chat, options) if chat is not None else []
    choice = resolve_chat_model(owner, chat)
    if choice is not None:
        choice = cheap_model(choice)
        try:
            return refine_cached(owner, choice, prompt, style_slug=style_slug, context=context,
                                 make_client=lambda: chat_client(owner, choice))
        except ProviderError as e:
            logger.info("modal refinement falls back to offline: %s", e.code)
    return refine(prompt, style_slug=style_slug, context=context)
