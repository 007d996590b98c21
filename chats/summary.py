"""The chat's running summary (Chat.summary): rewritten in the worker after every IMAGEGEN_SUMMARY_EVERY_TURNS turns.

A turn ends when its answer is complete: a help or error card when chat_message_post saves it, an image card when
its job ends (images.signals.generation_finished), a streamed reply when chats/reply.py saves it. Then, if enough turns passed since the summary last moved (Chat.summary_through, a message id), a
task (chats/tasks.py) is queued, never run in the request. The task folds the new messages into the previous
summary with the chat's cheap model (chats/llm, the same one prompt refinement uses), or, without a chat model or
when the call fails, an offline extractive summary (the sentences that carry the conversation's most frequent
content words). Prompt refinement (/image) and the modal's "include summary" read Chat.summary
(chats/refine.py gather_context).
"""

from __future__ import annotations

import logging
import re
from collections import Counter

from django.conf import settings
from django.db import transaction

from images.providers.base import ProviderError

from .llm import ChatRequest, ChatTurn
from .models import Chat, Message
from .refine import STOPWORDS, WORD, message_text

logger = logging.getLogger(__name__)

SUMMARY_SYSTEM = (
    "You keep the running summary of a conversation in an app where people chat and make pictures. You get the "
    "summary so far (maybe empty) and the messages since. Write the new summary: who and what the conversation "
    "is about, the places, characters, objects, styles and moods that came up, the pictures made and what the "
    "person liked or wanted changed. Plain prose, at most 6 sentences, no preamble, no lists."
)
TEMPERATURE = 0.2
MAX_TOKENS = 400
MAX_SUMMARY_CHARS = 1500
MAX_SENTENCE_CHARS = 300
# At most this many new messages are folded in at once (a long backlog: the latest ones).
MAX_NEW_MESSAGES = 60
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


# Behind every image (images/jobs.py gives generations -99 and up): someone is waiting for an image, nobody for the
# summary, which only feeds the context of later prompts. With a chat model it is an LLM call of seconds, and at
# priority 0 it would run before a backlog of images (they get -1, -2, … by fairness), holding a worker meanwhile.
SUMMARY_PRIORITY = -100


def every_turns() -> int:
    return max(0, settings.IMAGEGEN_SUMMARY_EVERY_TURNS)


def turns_since_summary(chat: Chat, *, before: int | None = None) -> int:
    """The person's messages after the last one the summary covers (and before message `before`): one per turn."""
    turns = chat.messages.filter(role=Message.Role.USER, pk__gt=chat.summary_through or 0)
    return (turns if before is None else turns.filter(pk__lt=before)).count()


def schedule_if_due(chat: Chat, *, answer_id: int | None = None) -> bool:
    """Queue the summary task after the commit when N turns have passed; cheap enough for the request path (one
    indexed count). The task checks again, so an extra or a duplicate enqueue costs nothing. While the summary lags
    (the workers are busy with images, or stopped), it is queued again every N turns, not at every turn: a burst of
    posts into one chat would otherwise queue a task per post, each one a write here and a turn of a worker."""
    n = every_turns()
    # answer_id: the turn that ended is the one this answer belongs to, not the latest (images end out of order).
    turns = turns_since_summary(chat, before=answer_id) if n else 0
    if not n or turns < n or turns % n:
        return False
    chat_id = chat.pk

    def enqueue_summary() -> None:  # named: Django's robust on_commit logs failures by __qualname__
        from .tasks import summarize_chat

        task = summarize_chat
        if task.get_backend().supports_priority:  # RQ has one priority: there it waits its turn like any job
            task = task.using(priority=SUMMARY_PRIORITY)
        task.enqueue(chat_id)

    transaction.on_commit(enqueue_summary, robust=True)
    return True


def schedule_after_image(sender, generation, **kwargs) -> None:
    """A turn answered by an image card ends when its job does (images.signals.generation_finished): the count runs
    in the worker then, not in the post (chat_message_post leaves image cards to this)."""
    if generation.chat_id is None or generation.modal:
        return
    chat = Chat.objects.filter(pk=generation.chat_id).only("pk", "summary_through").first()
    if chat is not None:
        schedule_if_due(chat, answer_id=generation.message_id)


def new_messages(chat: Chat) -> list[Message]:
    """Messages since the summary, in order, up to (not including) a reply still being written; error cards out."""
    found = []
    for message in (chat.messages.filter(pk__gt=chat.summary_through or 0).exclude(kind=Message.Kind.ERROR)
                    .select_related("generation").order_by("created", "pk")):
        if message.metadata.get("reply") in ("pending", "streaming"):
            break  # that turn is not finished: the next summary takes it
        found.append(message)
    return found


def transcript(messages: list[Message]) -> list[str]:
    lines = []
    for message in messages[-MAX_NEW_MESSAGES:]:
        text = " ".join(message_text(message).split())
        if text:
            lines.append(f"{'User' if message.role == Message.Role.USER else 'Assistant'}: {text}")
    return lines


IMAGE_LINE = re.compile(r"^\[made an image of: (.*)\]$", re.S)


def _sentences(line: str) -> list[str]:
    """A transcript line as plain sentences: no "User:" label (prompt refinement reads the summary's words), and
    an image card as "Made an image of …"."""
    text = line.partition(": ")[2].strip()
    if made := IMAGE_LINE.match(text):
        return [f"Made an image of {made.group(1).strip().rstrip('.')}."]
    return [s for s in SENTENCE_END.split(text) if s]


def summarize_offline(previous: str, lines: list[str], *, limit: int = MAX_SUMMARY_CHARS) -> str:
    """Extractive: the sentences (of the old summary and the new lines) with the most frequent content words,
    in their original order, within `limit` characters; a sentence that adds no content word to those already
    chosen is skipped. Deterministic, no network."""
    sentences: list[str] = [s for s in SENTENCE_END.split(previous.strip()) if s] if previous.strip() else []
    for line in lines:
        sentences += _sentences(line)
    sentences = [s if len(s) <= MAX_SENTENCE_CHARS else s[: MAX_SENTENCE_CHARS - 1] + "…" for s in sentences]

    def words(sentence: str) -> set[str]:
        return {w.lower().strip("'-") for w in WORD.findall(sentence)} - STOPWORDS

    counts = Counter(w for s in sentences for w in words(s))
    # Score: how much of the conversation's vocabulary a sentence carries; later sentences win ties (recency).
    ranked = sorted(range(len(sentences)), key=lambda i: (-sum(counts[w] for w in words(sentences[i])), -i))
    chosen, covered, used = set(), set(), 0
    for i in ranked:
        new_words = words(sentences[i]) - covered
        cost = len(sentences[i]) + 1
        if not new_words or used + cost > limit:
            continue
        chosen.add(i)
        covered |= new_words
        used += cost
    return " ".join(sentences[i] for i in sorted(chosen))


def summarize_with_llm(client, model: str, previous: str, lines: list[str]) -> str:
    body = (f"Summary so far:\n{previous.strip() or '(none yet)'}\n\n"
            "Messages since:\n" + "\n".join(lines))
    request = ChatRequest(model=model, system=SUMMARY_SYSTEM, messages=(ChatTurn("user", body),),
                          temperature=TEMPERATURE, max_tokens=MAX_TOKENS)
    text = " ".join(client.complete(request).split()).strip()
    text = re.sub(r"^(new |updated )?summary\s*:\s*", "", text, flags=re.I)
    if not text:
        raise ProviderError("The chat model answered with an empty summary.", code="empty_response")
    return text[:MAX_SUMMARY_CHARS]


def summarize(chat: Chat, previous: str, lines: list[str]) -> tuple[str, str]:
    """(summary, how): "llm" from the chat's cheap model, else "offline"."""
    from .chat_model import chat_client, cheap_model, resolve_chat_model

    choice = resolve_chat_model(chat.owner, chat)
    if choice is not None:
        choice = cheap_model(choice)
        try:
            return summarize_with_llm(chat_client(chat.owner, choice), choice.model, previous, lines), "llm"
        except ProviderError as e:
            logger.info("chat %s: summary falls back to offline: %s", chat.pk, e.code)
    return summarize_offline(previous, lines), "offline"


def update_summary(chat_id: int) -> str | None:
    """The task's work: fold the new turns into the summary when N are complete; returns how ("llm"/"offline") or
    None when nothing was due. The write is a compare-and-set on summary_through, so two tasks never both apply."""
    chat = Chat.objects.select_related("owner").filter(pk=chat_id).first()
    n = every_turns()
    if chat is None or not n:
        return None
    messages = new_messages(chat)
    if sum(1 for m in messages if m.role == Message.Role.USER) < n:
        return None
    lines = transcript(messages)
    summary, how = summarize(chat, chat.summary, lines) if lines else (chat.summary, "offline")
    # .update(): the summary is bookkeeping; it must not move the chat up the list (Chat.updated).
    written = Chat.objects.filter(pk=chat.pk, summary_through=chat.summary_through).update(
        summary=summary, summary_through=messages[-1].pk)
    if not written:
        logger.info("chat %s: the summary moved meanwhile; this one is dropped", chat.pk)
        return None
    logger.info("chat %s: summary rewritten (%s) through message %s", chat.pk, how, messages[-1].pk)
    return how
