"""OpenRouter (providers.md §4, the seed's path): POST /api/v1/chat/completions with `modalities`.

Images come back as data URIs in `choices[0].message.images[].image_url.url`. A reply with text but no image is
not an error: like the seed, it returns no images and the seed's "no images" warning, with the model's text.
Errors can also arrive inside a 200 body once generation has started. A 403 here is moderation, not a bad key.
"""

from __future__ import annotations

import dataclasses

from imagegen_site import http

from .base import Capabilities, ImageRequest, Provider, ProviderError, ProviderResult
from .common import Mapping, b64_image, data_uri, error_for, image

ROOT = "https://openrouter.ai/api/v1"
# The seed's five models; the first is its default. Others are discovered with list_models().
SEED_MODELS = {
    "google/gemini-3.1-flash-image-preview": "Nano Banana 2",
    "google/gemini-2.5-flash-image": "Nano Banana",
    "google/gemini-3-pro-image-preview": "Nano Banana Pro",
    "openai/gpt-5-image-mini": "GPT-5 Image Mini",
    "openai/gpt-5-image": "GPT-5 Image",
}
ASPECTS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
FLASH_31 = "gemini-3.1-flash-image"  # adds 1:4, 4:1, 1:8, 8:1 and 0.5K
NO_IMAGES = "Model did not return any images. Try a different prompt or model."
DOWNLOAD_HOSTS = ["openrouter.ai", "*.openrouter.ai"]


class OpenRouterProvider(Provider):
    kind = "openrouter"
    label = "OpenRouter"
    capabilities = Capabilities(edit=True, n_max=1, aspect_ratios=ASPECTS + ("1:4", "4:1", "1:8", "8:1"), seed=True,
                                models=tuple(SEED_MODELS), default_model="google/gemini-3.1-flash-image-preview")

    @classmethod
    def capabilities_for(cls, model: str) -> Capabilities:
        extra = ("1:4", "4:1", "1:8", "8:1") if FLASH_31 in model else ()
        return dataclasses.replace(cls.capabilities, aspect_ratios=ASPECTS + extra,
                                   seed=model.startswith("google/"))

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "X-OpenRouter-Title": "imagegen"}

    def generate(self, request: ImageRequest) -> ProviderResult:
        return self.call(request, request.prompt)

    def edit(self, request: ImageRequest) -> ProviderResult:
        if not request.input_images:
            raise ProviderError("An edit needs an input image.", code="validation_error")
        parts = [{"type": "text", "text": request.prompt}] + [
            {"type": "image_url", "image_url": {"url": data_uri(data, mime)}} for data, mime in request.input_images]
        return self.call(request, parts)

    def call(self, request: ImageRequest, content: str | list) -> ProviderResult:
        model = request.model or self.capabilities.default_model
        m = Mapping(f"OpenRouter {model}")
        caps = self.capabilities_for(model)
        m.common(request, caps)
        # Models that answer in words and pictures need both modalities; image-only ones (Flux…) only "image".
        both = model.startswith(("google/", "openai/"))
        body: dict = {"model": model, "messages": [{"role": "user", "content": content}],
                      "modalities": ["image", "text"] if both else ["image"]}
        config = {}
        ratio = m.ratio(request, caps.aspect_ratios)
        if ratio:
            config["aspect_ratio"] = ratio
        size = str(request.extra.get("image_size") or "").upper()
        if size in ("1K", "2K", "4K") or (size == "0.5K" and FLASH_31 in model):
            config["image_size"] = size
        elif size:
            m.drop("image_size", size, "has no such image size")
        if config:
            body["image_config"] = config
        if request.seed is not None and caps.seed:  # listed in the Gemini models' supported_parameters
            body["seed"] = request.seed
        resp = http.request("POST", f"{ROOT}/chat/completions", headers=self.headers(), json=body)
        if not resp.ok:
            raise self.error(resp, resp.json_or_none())
        return self.result(resp, resp.json(), model, m, body.get("seed"))

    def result(self, resp: http.HttpResponse, body: dict, model: str, m: Mapping, seed: int | None) -> ProviderResult:
        if isinstance(body.get("error"), dict):  # failed after generation started: still a 200
            raise self.error(resp, body)
        choices = body.get("choices") or []
        if not choices:
            raise ProviderError("OpenRouter answered without choices.", code="empty_response")
        message = choices[0].get("message") or {}
        text = message.get("content") if isinstance(message.get("content"), str) else ""
        images = []
        for item in message.get("images") or []:
            url = str((item.get("image_url") or {}).get("url") or "")
            if url.startswith("data:"):
                images.append(b64_image(url, label="OpenRouter", seed=seed))
            elif url:
                images.append(image(http.download(url, allowed_hosts=DOWNLOAD_HOSTS).content, label="OpenRouter",
                                    seed=seed))
        warnings = list(m.warnings)
        if not images:
            if choices[0].get("finish_reason") == "content_filter":
                raise ProviderError(f"OpenRouter's model refused the prompt. {text}".strip(), code="content_policy")
            warnings.append(NO_IMAGES)
        usage = body.get("usage") or {}
        cost = usage.get("cost")
        return ProviderResult(images=images, model=str(body.get("model") or model), text=text or "", usage=usage,
                              cost_usd=float(cost) if isinstance(cost, (int, float)) else None,
                              request_id=str(body.get("id") or ""), warnings=warnings)

    def error(self, resp: http.HttpResponse, body: object) -> ProviderError:
        err = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}
        status = err.get("code") if isinstance(err.get("code"), int) else resp.status
        message = str(err.get("message") or "")
        if status == 403:  # moderation or a guardrail, with the reasons in metadata
            reasons = (err.get("metadata") or {}).get("reasons") or []
            detail = f"{message} ({', '.join(map(str, reasons))})" if reasons else message
            return error_for(resp, label="OpenRouter", detail=detail, api_key=self.api_key, code="content_policy",
                             status=status)
        return error_for(resp, label="OpenRouter", detail=message, api_key=self.api_key, status=status)

    def validate_key(self) -> dict:
        resp = http.request("GET", f"{ROOT}/key", headers=self.headers())  # /models is public: proves nothing
        if not resp.ok:
            raise self.error(resp, resp.json_or_none())
        data = resp.json().get("data") or {}
        return {k: data.get(k) for k in ("limit", "limit_remaining", "usage", "is_free_tier")}

    def list_models(self) -> list[str]:
        # Without output_modalities the listing defaults to text models and hides every image model.
        resp = http.request("GET", f"{ROOT}/models", params={"output_modalities": "image"})
        if not resp.ok:
            raise self.error(resp, resp.json_or_none())
        return [str(item["id"]) for item in resp.json().get("data") or []
                if "image" in ((item.get("architecture") or {}).get("output_modalities") or [])]
