"""OpenAI-style chat completions (providers.md §8.1, §8.3): OpenAI, OpenRouter, xAI, Ollama, any compatible URL.

POST {base}/chat/completions. Streaming answers are server-sent events `data: {chunk}` ending with
`data: [DONE]`; text arrives in choices[0].delta.content and tool calls in pieces in choices[0].delta.tool_calls
(joined by their index). OpenRouter can report an error inside a 200 stream; that is raised like an HTTP error.
"""

from __future__ import annotations

import json
import re
from typing import Iterator

from imagegen_site import http
from images.providers.base import ProviderError
from images.providers.common import data_uri, error_for

from .base import ChatClient, ChatEvent, ChatRequest, TextDelta, ToolCall, parse_arguments

# OpenAI's reasoning models refuse `max_tokens` (they take max_completion_tokens) and any temperature but 1.
OPENAI_REASONING = re.compile(r"^(o\d|gpt-5)")
# GET /models lists every model the key can use; these families do not chat (OpenAI's and xAI's image, audio and
# embedding models, Ollama's embedders). OpenRouter's listing holds text-output models already.
NOT_CHAT = re.compile(r"embed|tts|whisper|transcribe|dall-e|gpt-image|-image|imagine|moderation|realtime|audio|sora"
                      r"|babbage|davinci")


class OpenAICompatibleClient(ChatClient):
    kind = "openai_compatible"
    label = "Chat model"

    @property
    def root(self) -> str:
        return (self.base_url or "https://api.openai.com/v1").rstrip("/")

    @property
    def is_openai(self) -> bool:
        return self.root.startswith("https://api.openai.com/")

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.api_key:  # Ollama and local servers need none
            headers["Authorization"] = f"Bearer {self.api_key}"
        if self.root.startswith("https://openrouter.ai/"):
            headers["X-OpenRouter-Title"] = "imagegen"
        return headers

    def body(self, request: ChatRequest, *, stream: bool) -> dict:
        messages: list[dict] = [{"role": "system", "content": request.system}] if request.system else []
        for turn in request.messages:
            if turn.images:
                parts: list[dict] = [{"type": "text", "text": turn.text}]
                parts += [{"type": "image_url", "image_url": {"url": data_uri(data, mime)}} for data, mime in turn.images]
                messages.append({"role": turn.role, "content": parts})
            else:
                messages.append({"role": turn.role, "content": turn.text})
        body: dict = {"model": request.model, "messages": messages}
        reasoning = self.is_openai and bool(OPENAI_REASONING.match(request.model))
        if request.temperature is not None and not reasoning:
            body["temperature"] = request.temperature
        if request.max_tokens is not None:
            body["max_completion_tokens" if self.is_openai else "max_tokens"] = request.max_tokens
        if request.tools:
            body["tools"] = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                               "parameters": t.parameters}} for t in request.tools]
        if stream:
            body["stream"] = True
        return body

    def error(self, resp: http.HttpResponse, body: object = None) -> ProviderError:
        body = resp.json_or_none() if body is None else body
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):
            detail, status = str(err.get("message") or ""), err.get("code")
        else:  # xAI's flat {"code": "...", "error": "..."}
            detail, status = str(err or ""), None
        return error_for(resp, label=self.label, detail=detail, api_key=self.api_key,
                         status=status if isinstance(status, int) else None)

    def complete(self, request: ChatRequest) -> str:
        resp = http.request("POST", f"{self.root}/chat/completions", headers=self.headers(),
                            json=self.body(request, stream=False), timeout_total=60)
        if not resp.ok:
            raise self.error(resp)
        body = resp.json()
        if isinstance(body.get("error"), dict):
            raise self.error(resp, body)
        choices = body.get("choices") or []
        content = (choices[0].get("message") or {}).get("content") if choices else None
        if not isinstance(content, str):
            raise ProviderError(f"{self.label} answered without text.", code="empty_response")
        return content.strip()

    def list_models(self) -> list[str]:
        """GET {base}/models → data[].id (providers.md §8; Ollama answers the same list shape at /v1/models)."""
        resp = http.request("GET", f"{self.root}/models", headers=self.headers(), timeout_total=15)
        if not resp.ok:
            raise self.error(resp)
        body = resp.json()
        items = body.get("data") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise ProviderError(f"{self.label} sent a model list in an unknown shape.", code="provider_error")
        ids = [str(item["id"]) for item in items if isinstance(item, dict) and item.get("id")]
        return [i for i in ids if not NOT_CHAT.search(i)]

    def stream(self, request: ChatRequest) -> Iterator[ChatEvent]:
        with http.stream("POST", f"{self.root}/chat/completions", headers=self.headers(),
                         json=self.body(request, stream=True), timeout_total=180) as resp:
            if not resp.ok:
                raise self.error(resp.read())
            calls: dict[int, dict] = {}
            for line in resp.lines():
                if not line.startswith("data:"):
                    continue  # blank separators, ": OPENROUTER PROCESSING" comments, event: lines
                payload = line[5:].strip()
                if payload == "[DONE]":
                    break
                try:
                    chunk = json.loads(payload)
                except ValueError:
                    continue
                if isinstance(chunk.get("error"), dict):
                    err = chunk["error"]
                    raise ProviderError(f"{self.label} failed: {str(err.get('message') or '')[:300]}",
                                        code="provider_error")
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    if isinstance(delta.get("content"), str) and delta["content"]:
                        yield TextDelta(delta["content"])
                    for piece in delta.get("tool_calls") or []:
                        call = calls.setdefault(int(piece.get("index", 0)), {"name": "", "arguments": ""})
                        function = piece.get("function") or {}
                        call["name"] += function.get("name") or ""
                        call["arguments"] += function.get("arguments") or ""
            for _, call in sorted(calls.items()):
                yield ToolCall(call["name"], parse_arguments(call["arguments"], label=self.label))
