"""Anthropic (providers.md §8.2): listed so a user can store a key for chat features, but Claude cannot make
images. Choosing it for generation is an `unsupported_provider` error with a clear message.

The key check and model list send `x-api-key` with `anthropic-version: 2023-06-01` (the pair the Messages API has
accepted longest; SDK 2.x moved to Bearer + 2026-10-21, which also drops `temperature`, so we keep the old pair).
"""

from __future__ import annotations

from imagegen_site import http

from .base import Capabilities, ImageRequest, Provider, ProviderError, ProviderResult
from .common import error_for

ROOT = "https://api.anthropic.com/v1"
VERSION = "2023-06-01"
CANNOT = "Anthropic's Claude models cannot create images; choose another provider for image generation."


class AnthropicProvider(Provider):
    kind = "anthropic"
    label = "Anthropic (no image generation)"
    description = "Claude can describe images but cannot make them."
    capabilities = Capabilities(generate=False, edit=False, aspect_ratios=())

    def generate(self, request: ImageRequest) -> ProviderResult:
        raise ProviderError(CANNOT, code="unsupported_provider")

    def edit(self, request: ImageRequest) -> ProviderResult:
        raise ProviderError(CANNOT, code="unsupported_provider")

    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.api_key or "", "anthropic-version": VERSION}

    def models_page(self, limit: int) -> dict:
        resp = http.request("GET", f"{ROOT}/models", headers=self.headers(), params={"limit": limit})
        if not resp.ok:
            body = resp.json_or_none()
            err = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}
            raise error_for(resp, label="Anthropic", detail=str(err.get("message") or ""), api_key=self.api_key)
        return resp.json()

    def validate_key(self) -> dict:
        return {"models": len(self.models_page(1).get("data") or [])}

    def list_models(self) -> list[str]:
        return [str(m["id"]) for m in self.models_page(100).get("data") or [] if m.get("id")]
