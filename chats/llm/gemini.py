"""Gemini generateContent for chat (providers.md §3): text, image input, function calling.

POST {base}/models/{model}:streamGenerateContent?alt=sse answers server-sent events, each a whole
GenerateContentResponse whose parts hold text (or `thought` parts, skipped) or a complete functionCall.
The key goes in `x-goog-api-key`, never the query string.
"""

from __future__ import annotations

import base64
import json
from typing import Iterator

from imagegen_site import http
from images.providers.base import ProviderError
from images.providers.gemini import google_error, list_google_models

from .base import ChatClient, ChatEvent, ChatRequest, TextDelta, ToolCall, merge_turns, parse_arguments

BLOCKED = "Gemini refused to answer"


class GeminiChatClient(ChatClient):
    kind = "gemini"
    label = "Google Gemini"

    @property
    def root(self) -> str:
        return (self.base_url or "https://generativelanguage.googleapis.com/v1beta").rstrip("/")

    def headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.api_key or ""}

    def body(self, request: ChatRequest) -> dict:
        contents = []
        for turn in merge_turns(request.messages):
            parts: list[dict] = [{"text": turn.text or "…"}]
            parts += [{"inlineData": {"mimeType": mime, "data": base64.b64encode(data).decode()}}
                      for data, mime in turn.images]
            contents.append({"role": "model" if turn.role == "assistant" else "user", "parts": parts})
        body: dict = {"contents": contents}
        if request.system:
            body["systemInstruction"] = {"parts": [{"text": request.system}]}
        config = {}
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if request.max_tokens is not None:
            config["maxOutputTokens"] = request.max_tokens
        if config:
            body["generationConfig"] = config
        if request.tools:
            body["tools"] = [{"functionDeclarations": [
                {"name": t.name, "description": t.description, "parameters": t.parameters} for t in request.tools]}]
        return body

    def events(self, chunk: dict) -> Iterator[ChatEvent]:
        feedback = chunk.get("promptFeedback") or {}
        if feedback.get("blockReason"):
            raise ProviderError(f"{BLOCKED} ({feedback['blockReason']}).", code="content_policy")
        for candidate in chunk.get("candidates") or []:
            for part in (candidate.get("content") or {}).get("parts") or []:
                if part.get("thought"):
                    continue
                if isinstance(part.get("text"), str) and part["text"]:
                    yield TextDelta(part["text"])
                call = part.get("functionCall")
                if isinstance(call, dict):
                    yield ToolCall(str(call.get("name") or ""), parse_arguments(call.get("args"), label=self.label))

    def complete(self, request: ChatRequest) -> str:
        resp = http.request("POST", f"{self.root}/models/{request.model}:generateContent", headers=self.headers(),
                            json=self.body(request), timeout_total=60)
        if not resp.ok:
            raise google_error(resp, label=self.label, api_key=self.api_key)
        text = "".join(e.text for e in self.events(resp.json()) if isinstance(e, TextDelta))
        if not text.strip():
            raise ProviderError("Gemini answered without text.", code="empty_response")
        return text.strip()

    def list_models(self) -> list[str]:
        """The models that take generateContent (the image side's listing, without its image-only filter); the key
        rides in x-goog-api-key there too, never in the URL."""
        return list_google_models(self.api_key, method="generateContent", label=self.label)

    def stream(self, request: ChatRequest) -> Iterator[ChatEvent]:
        with http.stream("POST", f"{self.root}/models/{request.model}:streamGenerateContent",
                         params={"alt": "sse"}, headers=self.headers(), json=self.body(request),
                         timeout_total=180) as resp:
            if not resp.ok:
                raise google_error(resp.read(), label=self.label, api_key=self.api_key)
            for line in resp.lines():
                if not line.startswith("data:"):
                    continue
                try:
                    chunk = json.loads(line[5:].strip())
                except ValueError:
                    continue
                yield from self.events(chunk)
