"""Google Gemini native image output (providers.md §3): POST v1beta/models/{model}:generateContent.

The key goes in `x-goog-api-key` (never the `?key=` query string, which ends up in logs). Images arrive as
`inlineData` parts in any order beside text and, on Gemini 3, thought parts (skipped). A blocked prompt is a 200
with `promptFeedback.blockReason`; an image withheld is a 200 whose candidate ends with IMAGE_SAFETY, NO_IMAGE…
Errors use the Google RPC envelope; a 429 says when to come back in `RetryInfo.retryDelay`.
"""

from __future__ import annotations

import base64
import dataclasses
import re

from imagegen_site import http

from .base import Capabilities, ImageRequest, Provider, ProviderError, ProviderResult
from .common import Mapping, b64_image, error_for

ROOT = "https://generativelanguage.googleapis.com/v1beta"
ASPECTS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
FLASH_31_ASPECTS = ("1:4", "4:1", "1:8", "8:1")  # gemini-3.1-flash-image only
SIZES = ("1K", "2K", "4K")
# finishReasons that mean "refused", as opposed to "did not manage" (NO_IMAGE, IMAGE_OTHER, MAX_TOKENS, STOP…).
POLICY_REASONS = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY",
                  "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"}


def google_error(resp: http.HttpResponse, *, label: str, api_key: str | None, hint: str = "") -> ProviderError:
    body = resp.json_or_none()
    body = body[0] if isinstance(body, list) and body else body  # the SDK also accepts a one-element list
    err = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}
    details = [d for d in err.get("details") or [] if isinstance(d, dict)]
    if any(d.get("reason") == "API_KEY_INVALID" for d in details) or err.get("status") == "UNAUTHENTICATED":
        return ProviderError(f"{label} rejected the API key (HTTP {resp.status}).", code="provider_auth_failed",
                             status=resp.status)
    error = error_for(resp, label=label, detail=f"{err.get('message') or ''}{hint}".strip(), api_key=api_key)
    for detail in details:  # "59s", or "1.5s"
        match = re.fullmatch(r"(\d+(?:\.\d+)?)s", str(detail.get("retryDelay", "")))
        if match:
            error.retry_after = float(match.group(1))
    return error


def list_google_models(api_key: str | None, *, method: str, label: str) -> list[str]:
    names: list[str] = []
    params: dict = {"pageSize": 1000}
    for _page in range(10):  # a bounded walk over nextPageToken
        resp = http.request("GET", f"{ROOT}/models", headers={"x-goog-api-key": api_key or ""}, params=params)
        if not resp.ok:
            raise google_error(resp, label=label, api_key=api_key)
        body = resp.json()
        if not isinstance(body, dict):
            raise ProviderError(f"{label} sent a model list in an unknown shape.", code="provider_error")
        names += [str(m.get("name", "")).removeprefix("models/") for m in body.get("models") or []
                  if method in (m.get("supportedGenerationMethods") or [])]
        if not body.get("nextPageToken"):
            break
        params["pageToken"] = body["nextPageToken"]
    return names


class GeminiProvider(Provider):
    kind = "gemini"
    label = "Google Gemini"
    capabilities = Capabilities(edit=True, n_max=1, aspect_ratios=ASPECTS + FLASH_31_ASPECTS, seed=True,
                                models=("gemini-2.5-flash-image", "gemini-3.1-flash-image-preview",
                                        "gemini-3-pro-image-preview"),
                                default_model="gemini-2.5-flash-image")

    @classmethod
    def capabilities_for(cls, model: str) -> Capabilities:
        extra = FLASH_31_ASPECTS if "3.1-flash" in model else ()  # only Nano Banana 2 has the tall/wide ones
        return dataclasses.replace(cls.capabilities, aspect_ratios=ASPECTS + extra)

    def generate(self, request: ImageRequest) -> ProviderResult:
        return self.call(request, [])

    def edit(self, request: ImageRequest) -> ProviderResult:
        if not request.input_images:
            raise ProviderError("An edit needs an input image.", code="validation_error")
        return self.call(request, [{"inlineData": {"mimeType": mime, "data": base64.b64encode(data).decode()}}
                                   for data, mime in request.input_images])

    def call(self, request: ImageRequest, image_parts: list[dict]) -> ProviderResult:
        model = request.model or self.capabilities.default_model
        m = Mapping(f"Gemini {model}")
        m.common(request, self.capabilities)
        config: dict = {"responseModalities": ["TEXT", "IMAGE"]}
        image_config = {}
        ratio = m.ratio(request, self.capabilities_for(model).aspect_ratios)
        if ratio:
            image_config["aspectRatio"] = ratio
        size = self.image_size(request, model, m)
        if size:
            image_config["imageSize"] = size
        if image_config:  # only what is asked is sent
            config["imageConfig"] = image_config
        if request.seed is not None:
            config["seed"] = request.seed
        body = {"contents": [{"role": "user", "parts": [{"text": request.prompt}, *image_parts]}],
                "generationConfig": config}
        resp = http.request("POST", f"{ROOT}/models/{model}:generateContent",
                            headers={"x-goog-api-key": self.api_key or ""}, json=body)
        if not resp.ok:
            raise google_error(resp, label="Gemini", api_key=self.api_key)
        return self.result(resp.json(), model, m, request.seed)

    def image_size(self, request: ImageRequest, model: str, m: Mapping) -> str | None:
        wanted = str(request.extra.get("image_size") or "").upper()
        if not wanted and request.width and request.height:
            side = max(request.width, request.height)
            wanted = "4K" if side > 2048 else "2K" if side > 1024 else ""
        if not wanted:
            return None
        if not model.startswith("gemini-3") or wanted not in SIZES:
            m.drop("image_size", wanted, "has no such image size" if model.startswith("gemini-3")
                   else "makes 1K images only")
            return None
        return wanted

    def result(self, body: dict, model: str, m: Mapping, seed: int | None) -> ProviderResult:
        candidates = body.get("candidates") or []
        feedback = body.get("promptFeedback") or {}
        if not candidates:
            if feedback.get("blockReason"):
                why = feedback.get("blockReasonMessage") or feedback["blockReason"]
                raise ProviderError(f"Gemini blocked the prompt ({why}).", code="content_policy")
            raise ProviderError("Gemini answered without a candidate.", code="empty_response")
        candidate = candidates[0]
        images, texts = [], []
        for part in (candidate.get("content") or {}).get("parts") or []:
            if part.get("thought"):  # Gemini 3 thinking: drafts, not the answer
                continue
            inline = part.get("inlineData") or part.get("inline_data") or {}
            if inline.get("data"):
                images.append(b64_image(inline["data"], label="Gemini", seed=seed))
            elif part.get("text"):
                texts.append(part["text"])
        text = "\n".join(texts)
        reason = str(candidate.get("finishReason") or "")
        if not images:
            said = f": {text[:300]}" if text else "."
            if reason in POLICY_REASONS:
                raise ProviderError(f"Gemini withheld the image ({reason}){said}", code="content_policy")
            raise ProviderError(f"Gemini answered without an image (finishReason {reason or 'none'}){said}",
                                code="empty_response")
        return ProviderResult(images=images, model=body.get("modelVersion") or model, text=text,
                              usage=body.get("usageMetadata") or {}, warnings=m.warnings,
                              request_id=str(body.get("responseId") or ""))

    def validate_key(self) -> dict:
        resp = http.request("GET", f"{ROOT}/models", headers={"x-goog-api-key": self.api_key or ""},
                            params={"pageSize": 1})
        if not resp.ok:
            raise google_error(resp, label="Gemini", api_key=self.api_key)
        return {"models": len(resp.json().get("models") or [])}

    def list_models(self) -> list[str]:
        names = list_google_models(self.api_key, method="generateContent", label="Gemini")
        return [n for n in names if "image" in n]

