"""The contract every chat-model client implements (one module per API family).

A client turns a typed ChatRequest into HTTP calls through imagegen_site.http and yields typed events. Like the
image providers it knows nothing of Django models and never logs a key; it raises only ProviderError with a
taxonomy code (DESIGN.md), so the chat can show the same error cards as for images.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import ClassVar, Iterator

from images.providers.base import ProviderError


@dataclass(frozen=True)
class ChatTurn:
    role: str  # "user" or "assistant"
    text: str
    # Images the model should see with this turn, as (bytes, mime type); loaded from our storage by the caller.
    images: tuple[tuple[bytes, str], ...] = ()


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict  # JSON Schema of the arguments


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: tuple[ChatTurn, ...]
    system: str = ""
    temperature: float | None = None
    max_tokens: int | None = None
    tools: tuple[Tool, ...] = ()


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict = field(default_factory=dict)


ChatEvent = TextDelta | ToolCall


def parse_arguments(raw: str | dict | None, *, label: str) -> dict:
    """Tool arguments arrive as a JSON string (OpenAI, Anthropic deltas) or an object (Gemini)."""
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        raise ProviderError(f"{label} sent tool arguments that are not JSON.", code="provider_error") from None
    if not isinstance(value, dict):
        raise ProviderError(f"{label} sent tool arguments that are not an object.", code="provider_error")
    return value


def merge_turns(turns: tuple[ChatTurn, ...]) -> list[ChatTurn]:
    """Join consecutive turns of one role (Anthropic and Gemini insist on alternation) and drop a leading
    assistant turn, which they refuse too."""
    merged: list[ChatTurn] = []
    for turn in turns:
        if merged and merged[-1].role == turn.role:
            last = merged[-1]
            merged[-1] = ChatTurn(turn.role, f"{last.text}\n\n{turn.text}".strip(), last.images + turn.images)
        else:
            merged.append(turn)
    while merged and merged[0].role != "user":
        merged.pop(0)
    return merged


class ChatClient:
    kind: ClassVar[str] = ""
    label: ClassVar[str] = ""

    def __init__(self, *, api_key: str | None = None, base_url: str | None = None, label: str = "") -> None:
        self.api_key = api_key
        self.base_url = base_url
        if label:
            self.label = label

    def stream(self, request: ChatRequest) -> Iterator[ChatEvent]:
        """The reply as it arrives: text deltas, and a ToolCall once its arguments are complete."""
        raise NotImplementedError

    def complete(self, request: ChatRequest) -> str:
        """One non-streamed answer's text (prompt refinement)."""
        raise NotImplementedError

    def list_models(self) -> list[str]:
        """Model ids this key (or server) can chat with, from the provider's own listing; ProviderError on failure."""
        raise ProviderError(f"{self.label} cannot list its models.", code="unsupported_provider")
