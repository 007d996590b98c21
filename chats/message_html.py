"""Rendered chat messages, kept per process and keyed by everything they are rendered from.

A finished message never changes unless one of its rows does (the message, its generation, that generation's
images: a favorite star, say). The key is a digest of every column of those rows, so a changed row is simply a new
key: nothing to invalidate, never stale, and an answer is never served for another message (the message's id is in
the key; every row read is the owner's, as the chat page loaded them). Messages whose look depends on the clock or a
live stream (a queued or running image, a reply still streaming) are rendered every time.

Per process, not in the shared cache: a hit costs no query at all, and each gunicorn worker renders a message at
most once. Bounded (MAX_ENTRIES, least recently used first out; imagegen_site/fragments.py).
"""

from __future__ import annotations

import hashlib

from django.db import models
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from imagegen_site.fragments import Fragments

from .models import Message

TEMPLATE = "chats/_message.html"
MAX_ENTRIES = 5000  # a few KB each

_rendered = Fragments(max_weight=MAX_ENTRIES)  # each entry weighs 1


def _row(obj: models.Model) -> tuple:
    return tuple(getattr(obj, f.attname) for f in obj._meta.concrete_fields)


def fingerprint(message: Message) -> str | None:
    """The cache key for this message as loaded, or None when it must be rendered fresh."""
    if message.pk is None or (message.metadata or {}).get("reply") in ("pending", "streaming"):
        return None
    rows: list = [TEMPLATE, _row(message)]
    if message.kind == Message.Kind.IMAGE:
        generation = getattr(message, "generation", None)  # a retried request's old card has none
        if generation is not None:
            if generation.is_pending:  # queue position, elapsed seconds, live preview: changes by the second
                return None
            rows.append(_row(generation))
            rows += [_row(image) for image in generation.images.all()]  # prefetched by the chat page
    return hashlib.blake2b(repr(rows).encode(), digest_size=20).hexdigest()


def render_message(message: Message, request: HttpRequest | None = None, *, queue_position: bool = True) -> SafeString:
    """queue_position=False: a queued card leaves out its place in line (a scan of the whole queue); the answer to
    a post does, and the card's first poll a second later shows it. Only pending cards show it, never cached."""
    key = fingerprint(message)
    if key is not None and (html := _rendered.get(key)) is not None:
        return mark_safe(html)  # noqa: S308 - a template's output, kept
    context = {"message": message, "skip_queue_position": not queue_position}
    html = mark_safe(render_to_string(TEMPLATE, context, request=request))  # noqa: S308 - a template's output
    if key is not None:
        _rendered.put(key, html, weight=1)
    return html


def clear() -> None:
    _rendered.clear()
