"""OpenRouter (providers.md §4): the dedicated Image API first, chat completions only where it cannot serve.

Which endpoint, and why:
- Generate and edit go to `POST /images` (§4.2): up to 10 images in one request, the options as plain fields, and
  `usage.cost` (what OpenRouter charged) as the provider-reported cost that images/pricing.py trusts first. An edit
  sends our stored input images as data URIs in `input_references`, the Image API's own reference-image field.
- Only when /images says it does not serve the model (a 404, or a 400 whose message names the model) does the same
  request go to `POST /chat/completions` with `modalities` (§4.1, the seed's path). Such a refusal is not billed, so
  one image never costs two requests; every other failure (402 credits, 429, 5xx, moderation, an error inside a 200)
  is raised as it is and never repeated on the other endpoint. Chat makes one image a call; asked for more, it
  makes one and says so (capabilities promise the Image API's 10, so images/fanout.py does not split the request).
  A reply with text but no image is not an error there: like the seed, it returns no images and the seed's
  "no images" warning, with the model's text.
- Image API sizes: width×height is sent as `size` alone; otherwise `aspect_ratio` and `resolution` (from the
  profile's image_size). Never `size` with either of the others: conflicting values are a 400.
- list_models keeps `GET /models?output_modalities=image`: providers.md names `GET /images/models` but not its shape.

Errors can also arrive inside a 200 body once generation has started; a failed or cancelled generation is a 502
(not billed), a retryable provider_error. A 403 here is moderation, not a bad key.
"""

from __future__ import annotations

import dataclasses
import logging
import time

from imagegen_site import http

from .base import Capabilities, ImageRequest, Provider, ProviderError, ProviderResult
from .common import Mapping, b64_image, data_uri, error_for, image

logger = logging.getLogger(__name__)

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
QUALITIES = ("auto", "low", "medium", "high")
QUALITY_NAMES = {"hd": "high", "standard": "medium"}  # the DALL·E words, as images/providers/openai.py maps them
RESOLUTIONS = {"0.5K": "512", "512": "512", "1K": "1K", "2K": "2K", "4K": "4K"}  # profile image_size → resolution
OUTPUT_FORMATS = ("png", "jpeg", "webp")  # the API also offers svg; we keep raster images only
BACKGROUNDS = ("auto", "transparent", "opaque")  # §4.2 names the field; the values are OpenAI's (§1.1)


class OpenRouterProvider(Provider):
    kind = "openrouter"
    label = "OpenRouter"
    # What the Image API takes (n 1-10, seed, quality); the chat fallback drops what chat cannot, with a warning.
    capabilities = Capabilities(edit=True, n_max=10, aspect_ratios=ASPECTS + ("1:4", "4:1", "1:8", "8:1"), seed=True,
                                qualities=QUALITIES, models=tuple(SEED_MODELS),
                                default_model="google/gemini-3.1-flash-image-preview",
                                # The profile options image_fields (and the chat fallback) read; §4.2's values.
                                options=(("image_size", tuple(k for k in RESOLUTIONS if k != "512")),
                                         ("output_format", OUTPUT_FORMATS), ("background", BACKGROUNDS)),
                                int_options=(("output_compression", 0, 100),))

    @classmethod
    def capabilities_for(cls, model: str) -> Capabilities:
        extra = ("1:4", "4:1", "1:8", "8:1") if FLASH_31 in model else ()
        return dataclasses.replace(cls.capabilities, aspect_ratios=ASPECTS + extra)

    @classmethod
    def chat_capabilities(cls, model: str) -> Capabilities:
        """Chat completions: one image a call, no quality, and a seed only for the Gemini models (it is in their
        supported_parameters)."""
        return dataclasses.replace(cls.capabilities_for(model), n_max=1, qualities=(),
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
        """The Image API; chat completions only if the Image API does not serve the model (module docstring)."""
        model = request.model or self.capabilities.default_model
        if chat_only(model):  # refused by the Image API lately: straight to chat, no refused round trip each time
            return self.chat(request, content, model)
        m = Mapping(f"OpenRouter {model}")
        body = self.image_fields(request, model, m)
        resp = http.request("POST", f"{ROOT}/images", headers=self.headers(), json=body)
        if resp.ok:
            return self.image_result(resp, model, m, body.get("seed") if body.get("n", 1) == 1 else None)
        if not self.model_not_served(resp, model):
            raise self.error(resp, resp.json_or_none())
        # Not billed: the Image API refused the model before making anything. Chat is the one billed request.
        logger.info("OpenRouter's image API does not serve %s (HTTP %s); using chat completions", model, resp.status)
        CHAT_ONLY[model] = time.monotonic() + CHAT_ONLY_TTL_S
        return self.chat(request, content, model)

    def image_fields(self, request: ImageRequest, model: str, m: Mapping) -> dict:
        """The `POST /images` body (§4.2): only what is asked is sent."""
        caps = self.capabilities_for(model)
        body: dict = {"model": model, "prompt": request.prompt}
        n = m.common(request, caps)
        if n > 1:
            body["n"] = n
        if request.input_images:
            body["input_references"] = [{"type": "image_url", "image_url": {"url": data_uri(data, mime)}}
                                        for data, mime in request.input_images]
        wanted = str(request.extra.get("resolution") or request.extra.get("image_size") or "").upper()
        if request.width and request.height:
            # An exact size stands alone: with an aspect ratio or resolution beside it the API answers 400.
            body["size"] = f"{request.width}x{request.height}"
            if request.aspect_ratio:
                m.drop("aspect_ratio", request.aspect_ratio, f"takes the size {body['size']} instead")
            if wanted:
                m.drop("image_size", wanted, f"takes the size {body['size']} instead")
        else:
            ratio = m.ratio(request, caps.aspect_ratios)
            if ratio:
                body["aspect_ratio"] = ratio
            if wanted in RESOLUTIONS:
                body["resolution"] = RESOLUTIONS[wanted]
            elif wanted:
                m.drop("image_size", wanted, "has no such image size")
        if request.quality:
            quality = QUALITY_NAMES.get(request.quality, request.quality)
            if quality in QUALITIES:
                body["quality"] = quality
            elif caps.qualities:
                m.drop("quality", request.quality, "has no such quality")
        output_format = request.extra.get("output_format")
        if output_format in OUTPUT_FORMATS:
            body["output_format"] = output_format
        elif output_format:
            m.drop("output_format", output_format, "makes PNG, JPEG or WEBP here")
        for key in ("background", "output_compression"):
            if request.extra.get(key) not in (None, ""):
                body[key] = request.extra[key]
        if request.seed is not None:
            body["seed"] = request.seed
        return body

    def image_result(self, resp: http.HttpResponse, model: str, m: Mapping, seed: int | None) -> ProviderResult:
        body = resp.json_or_none()
        if not isinstance(body, dict):
            raise ProviderError("OpenRouter's image API answered with something that is not JSON.",
                                code="provider_error")
        if isinstance(body.get("error"), dict):  # failed after generation started: still a 200
            raise self.error(resp, body)
        label = f"OpenRouter {model}"
        images = []
        for item in body.get("data") or []:
            if not isinstance(item, dict):
                continue
            if item.get("b64_json"):  # media_type is declared too; the bytes are sniffed instead
                images.append(b64_image(str(item["b64_json"]), label=label, seed=seed))
            elif item.get("url"):
                got = http.download(str(item["url"]), allowed_hosts=DOWNLOAD_HOSTS)
                images.append(image(got.content, label=label, seed=seed))
        if not images:
            raise ProviderError(f"{label} answered without an image.", code="empty_response")
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        return ProviderResult(images=images, model=model, usage=usage, cost_usd=reported_cost(usage),
                              request_id=str(body.get("id") or ""), warnings=m.warnings)

    @staticmethod
    def model_not_served(resp: http.HttpResponse, model: str) -> bool:
        """The Image API's "not this model here": a 404, or a 400 whose message names the model."""
        if resp.status == 404:
            return True
        if resp.status != 400:
            return False
        body = resp.json_or_none()
        err = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}
        return model.lower() in str(err.get("message") or "").lower()

    def chat(self, request: ImageRequest, content: str | list, model: str) -> ProviderResult:
        """One image through chat completions (§4.1); what chat cannot take is dropped with a warning."""
        m = Mapping(f"OpenRouter {model}")
        caps = self.chat_capabilities(model)
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
        if request.seed is not None and caps.seed:
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
        return ProviderResult(images=images, model=str(body.get("model") or model), text=text or "", usage=usage,
                              cost_usd=reported_cost(usage),
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


# Models the Image API refused, per process, until the monotonic time given: OpenRouter adds models to /images over
# time, so the memo expires and the next request asks again. A model id is the same for every user and key.
CHAT_ONLY: dict[str, float] = {}
CHAT_ONLY_TTL_S = 3600


def chat_only(model: str) -> bool:
    until = CHAT_ONLY.get(model)
    if until is None:
        return False
    if until <= time.monotonic():
        CHAT_ONLY.pop(model, None)
        return False
    return True


def reported_cost(usage: dict) -> float | None:
    """`usage.cost`: what OpenRouter charged in USD, which images/pricing.py trusts before its own table."""
    cost = usage.get("cost")
    return float(cost) if isinstance(cost, (int, float)) and not isinstance(cost, bool) else None
