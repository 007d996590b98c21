"""Anthropic Messages (providers.md §8.2, §11): POST {base}/messages, vision input only.

We send `x-api-key` with `anthropic-version: 2023-06-01`: API version 2026-10-21 (SDK 2.x, Bearer auth) removed
`temperature`, and prompt refinement asks for temperature 0.4. Streaming events: content_block_delta carries
text_delta pieces, a tool_use block arrives as content_block_start plus input_json_delta pieces, and an `error`
event can arrive mid-stream (overloaded_error).
"""

from __future__ import annotations

import base64
import json
from typing import Iterator

from imagegen_site import http
from images.providers.base import ProviderError
from images.providers.common import error_for

from .base import ChatClient, ChatEvent, ChatRequest, TextDelta, ToolCall, merge_turns, parse_arguments

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024  # required by the Messages API


class AnthropicClient(ChatClient):
    kind = "anthropic"
    label = "Anthropic"

    @property
    def root(self) -> str:
        return (self.base_url or "https://api.anthropic.com/v1").rstrip("/")

    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.api_key or "", "anthropic-version": API_VERSION}

    def body(self, request: ChatRequest, *, stream: bool) -> dict:
        messages = []
        for turn in merge_turns(request.messages):
            content: list[dict] = [
                {"type": "image", "source": {"type": "base64", "media_type": mime,
                                             "data": base64.b64encode(data).decode()}}
                for data, mime in turn.images
            ]
            content.append({"type": "text", "text": turn.text or "…"})
            messages.append({"role": turn.role, "content": content})
        body: dict = {"model": request.model, "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
                      "messages": messages}
        if request.system:
            body["system"] = request.system
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.tools:
            body["tools"] = [{"name": t.name, "description": t.description, "input_schema": t.parameters}
                             for t in request.tools]
        if stream:
            body["stream"] = True
        return body

    def error(self, resp: http.HttpResponse, body: object = None) -> ProviderError:
        body = resp.json_or_none() if body is None else body
        err = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}
        kind = err.get("type")
        if kind == "overloaded_error":  # 529: retry later, like a rate limit
            return ProviderError("Anthropic is overloaded; try again in a moment.", code="provider_rate_limited",
                                 retryable=True, status=resp.status)
        return error_for(resp, label=self.label, detail=str(err.get("message") or ""), api_key=self.api_key)

    def complete(self, request: ChatRequest) -> str:
        resp = http.request("POST", f"{self.root}/messages", headers=self.headers(),
                            json=self.body(request, stream=False), timeout_total=60)
        if not resp.ok:
            raise self.error(resp)
        text = "".join(block.get("text", "") for block in resp.json().get("content") or []
                       if block.get("type") == "text")
        if not text.strip():
            raise ProviderError("Anthropic answered without text.", code="empty_response")
        return text.strip()

    def list_models(self) -> list[str]:
        """GET {base}/models → data[].id; one page of up to 1000 (the API's largest) holds every Claude model."""
        resp = http.request("GET", f"{self.root}/models", headers=self.headers(), params={"limit": 1000},
                            timeout_total=15)
        if not resp.ok:
            raise self.error(resp)
        body = resp.json()
        items = body.get("data") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise ProviderError("Anthropic sent a model list in an unknown shape.", code="provider_error")
        return [str(m["id"]) for m in items if isinstance(m, dict) and m.get("id")]

    def stream(self, request: ChatRequest) -> Iterator[ChatEvent]:
        with http.stream("POST", f"{self.root}/messages", headers=self.headers(),
                         json=self.body(request, stream=True), timeout_total=180) as resp:
            if not resp.ok:
                raise self.error(resp.read())
            tools: dict[int, dict] = {}
            for line in resp.lines():
                if not line.startswith("data:"):
                    continue
                try:
                    event = json.loads(line[5:].strip())
                except ValueError:
                    continue
                kind = event.get("type")
                if kind == "error":
                    err = event.get("error") or {}
                    code = "provider_rate_limited" if err.get("type") == "overloaded_error" else "provider_error"
                    raise ProviderError(f"Anthropic failed: {str(err.get('message') or '')[:300]}", code=code,
                                        retryable=code == "provider_rate_limited")
                if kind == "content_block_start":
                    block = event.get("content_block") or {}
                    if block.get("type") == "tool_use":
                        tools[int(event.get("index", 0))] = {"name": block.get("name", ""), "json": ""}
                elif kind == "content_block_delta":
                    delta = event.get("delta") or {}
                    if delta.get("type") == "text_delta" and delta.get("text"):
                        yield TextDelta(delta["text"])
                    elif delta.get("type") == "input_json_delta":
                        tools.setdefault(int(event.get("index", 0)), {"name": "", "json": ""})["json"] += \
                            delta.get("partial_json") or ""
                elif kind == "content_block_stop" and int(event.get("index", 0)) in tools:
                    call = tools.pop(int(event.get("index", 0)))
                    yield ToolCall(call["name"], parse_arguments(call["json"], label=self.label))
                elif kind == "message_stop":
                    break
