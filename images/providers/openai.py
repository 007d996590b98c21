"""OpenAI Images (providers.md §1): POST /images/generations (JSON) and /images/edits (multipart).

GPT image models and DALL·E take different options; each model's Capabilities say which, and anything a model
cannot take is dropped with a warning rather than sent to be rejected. GPT image models never get
`response_format` (they always answer base64); DALL·E is asked for b64_json, and a URL answer (compatible servers)
is downloaded at once. A base URL makes this work against Azure OpenAI and OpenAI-compatible servers.
"""

from __future__ import annotations

import io
import math
from urllib.parse import urlsplit

from PIL import Image, ImageOps

from imagegen_site import http

from .base import Capabilities, ImageRequest, Provider, ProviderError, ProviderResult
from .common import Mapping, b64_image, error_for, image, ratio_value, redact, requested_ratio, sse_events

GPT_SIZES = ("1024x1024", "1536x1024", "1024x1536")
GPT_QUALITIES = ("low", "medium", "high", "auto")
# The GPT image models' own options a profile may set (providers.md §1.1); DALL·E takes none of them. A transparent
# background needs png or webp, and output_compression only compresses jpeg and webp: clean_parameters refuses the
# first pair at save time, fields() below drops what still contradicts with a warning.
GPT_OPTIONS = (("background", ("auto", "transparent", "opaque")), ("output_format", ("png", "jpeg", "webp")),
               ("moderation", ("auto", "low")))
GPT_INT_OPTIONS = (("output_compression", 0, 100),)
GPT = Capabilities(edit=True, mask=True, n_max=10, sizes=GPT_SIZES, aspect_ratios=("1:1", "3:2", "2:3"),
                   qualities=GPT_QUALITIES, options=GPT_OPTIONS, int_options=GPT_INT_OPTIONS)
MODELS = {
    "gpt-image-2": Capabilities(edit=True, mask=True, n_max=10, aspect_ratios=("1:1", "3:2", "2:3", "4:3", "3:4", "16:9",
                                "9:16", "21:9", "3:1", "1:3"), qualities=GPT_QUALITIES, max_side=3840,
                                options=GPT_OPTIONS, int_options=GPT_INT_OPTIONS),
    "gpt-image-1.5": GPT,
    "gpt-image-1": GPT,
    "gpt-image-1-mini": GPT,
    "dall-e-3": Capabilities(n_max=1, sizes=("1024x1024", "1792x1024", "1024x1792"),
                             aspect_ratios=("1:1", "7:4", "4:7"), qualities=("standard", "hd"),
                             styles=("vivid", "natural")),
    "dall-e-2": Capabilities(edit=True, mask=True, n_max=10, sizes=("256x256", "512x512", "1024x1024"),
                             qualities=("standard",)),
}
GPT_ONLY = ("background", "output_format", "output_compression", "moderation")
QUALITY_NAMES = {"hd": "high", "standard": "medium"}  # the DALL·E words for GPT image models, and back
PARTIAL_IMAGES = 2  # 0-3 allowed; each partial costs extra output tokens, two show the picture forming
DALLE3_QUALITY = {"hd": "hd", "high": "hd", "standard": "standard", "medium": "standard", "low": "standard"}


def openai_mask(mask: bytes) -> bytes:
    """The canonical mask (255 = change, images/masks.py) as OpenAI reads one: an RGBA PNG whose fully transparent
    pixels are the area to change."""
    with Image.open(io.BytesIO(mask)) as painted:
        alpha = ImageOps.invert(painted.convert("L"))
    rgba = Image.new("RGBA", alpha.size, (0, 0, 0, 255))
    rgba.putalpha(alpha)
    out = io.BytesIO()
    rgba.save(out, format="PNG")
    return out.getvalue()


class OpenAIProvider(Provider):
    kind = "openai"
    label = "OpenAI"
    capabilities = Capabilities(edit=True, mask=True, n_max=10, aspect_ratios=MODELS["gpt-image-2"].aspect_ratios,
                                qualities=GPT_QUALITIES + ("standard", "hd"), styles=("vivid", "natural"),
                                models=tuple(MODELS), default_model="gpt-image-1.5", max_side=3840,
                                options=GPT_OPTIONS, int_options=GPT_INT_OPTIONS)

    @classmethod
    def capabilities_for(cls, model: str) -> Capabilities:
        return MODELS.get(model) or (MODELS["dall-e-3"] if model.startswith("dall-e-3") else
                                     MODELS["dall-e-2"] if model.startswith("dall-e") else GPT)

    @property
    def root(self) -> str:
        return (self.base_url or "https://api.openai.com/v1").rstrip("/")

    def headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        if (urlsplit(self.root).hostname or "").endswith(".openai.azure.com"):
            headers["api-key"] = self.api_key or ""  # Azure's own header; its v1 API also takes Bearer
        return headers

    def generate(self, request: ImageRequest) -> ProviderResult:
        model, fields, m = self.fields(request)
        if self.streams_previews(model, fields):
            return self.generate_streamed(model, fields, m)
        resp = http.request("POST", f"{self.root}/images/generations", headers=self.headers(), json=fields,
                            timeout_total=600 if self.base_url else 180)
        return self.result(resp, model, m)

    def edit(self, request: ImageRequest) -> ProviderResult:
        model, fields, m = self.fields(request)
        if not self.capabilities_for(model).edit:
            raise ProviderError(f"OpenAI {model} cannot edit images.", code="unsupported_provider")
        if not request.input_images:
            raise ProviderError("An edit needs an input image.", code="validation_error")
        images = request.input_images[: 1 if model.startswith("dall-e") else 16]
        if len(images) < len(request.input_images):
            m.note(f"OpenAI {model} takes {len(images)} input image(s); the rest were dropped.")
        # One file is `image` for DALL·E 2; GPT image models take a list, `image[]` even for one (§11).
        name = "image" if model.startswith("dall-e") else "image[]"
        files = [(name, (f"image{i}.{mime.split('/')[-1]}", data, mime)) for i, (data, mime) in enumerate(images)]
        if request.mask is not None:  # applied to the first image, whose size it has
            files.append(("mask", ("mask.png", openai_mask(request.mask), "image/png")))
        if fields.pop("moderation", None) is not None:
            m.drop("moderation", request.extra["moderation"], "edits take no moderation option")
        form = {k: str(v) for k, v in fields.items()}
        if self.streams_previews(model, fields):
            # Multipart takes the same two fields as strings; the events are image_edit.* instead of
            # image_generation.* (the API reference's "Image edit streaming events").
            form |= {"stream": "true", "partial_images": str(PARTIAL_IMAGES)}
            return self.streamed("images/edits", "image_edit", model, m, data=form, files=files)
        resp = http.request("POST", f"{self.root}/images/edits", headers=self.headers(), data=form, files=files,
                            timeout_total=600 if self.base_url else 180)
        return self.result(resp, model, m)

    def fields(self, request: ImageRequest) -> tuple[str, dict, Mapping]:
        model = request.model or self.capabilities.default_model
        caps = self.capabilities_for(model)
        m = Mapping(f"OpenAI {model}")
        fields: dict = {"model": model, "prompt": request.prompt, "n": m.common(request, caps)}
        size = self.size(request, model, caps, m)
        if size:
            fields["size"] = size
        quality = self.quality(request.quality, model, m)
        if quality:
            fields["quality"] = quality
        if request.style and caps.styles:
            if request.style in caps.styles:
                fields["style"] = request.style
            else:
                m.drop("style", request.style, f"has styles {', '.join(caps.styles)} only")
        gpt = not model.startswith("dall-e")
        for key in GPT_ONLY + ("user",):
            if request.extra.get(key) is None:
                continue
            if gpt or key == "user":
                fields[key] = request.extra[key]
            else:
                m.drop(key, request.extra[key], "takes it on GPT image models only")
        if fields.get("background") == "transparent" and fields.get("output_format") == "jpeg":
            m.drop("background", "transparent", "cannot make a transparent JPEG")
            del fields["background"]
        if "output_compression" in fields and fields.get("output_format") not in ("jpeg", "webp"):
            m.drop("output_compression", fields.pop("output_compression"), "compresses JPEG and WEBP only")
        if not gpt:
            fields["response_format"] = "b64_json"  # never for GPT image models: they reject it
        return model, fields, m

    def size(self, request: ImageRequest, model: str, caps: Capabilities, m: Mapping) -> str | None:
        wanted = requested_ratio(request)
        if wanted is None:
            return None  # the model's default ("auto"); only what is asked is sent
        if not caps.sizes:  # gpt-image-2: any WxH, multiples of 16, 1:3…3:1, at most 3840x2160
            r = min(max(ratio_value(wanted), 1 / 3), 3.0)
            w, h = (request.width, request.height) if request.width and request.height else \
                (math.sqrt(1024 * 1024 * r), math.sqrt(1024 * 1024 / r))
            scale = min(1.0, 3840 / max(w, h), 2160 / min(w, h))
            size = f"{round(w * scale / 16) * 16}x{round(h * scale / 16) * 16}"
        else:
            exact = f"{request.width}x{request.height}"
            size = exact if exact in caps.sizes else min(caps.sizes, key=lambda s: abs(
                math.log(ratio_value(s.replace("x", ":"))) - math.log(ratio_value(wanted))))
        if request.width and request.height and size != f"{request.width}x{request.height}":
            m.note(f"OpenAI {model} has no {request.width}x{request.height} size; used {size}.")
        elif request.aspect_ratio and not math.isclose(ratio_value(size.replace("x", ":")), ratio_value(wanted),
                                                       rel_tol=0.02):
            m.note(f"OpenAI {model} has no {wanted} size; used {size}.")
        return size

    def quality(self, quality: str | None, model: str, m: Mapping) -> str | None:
        if not quality or quality == "auto":
            return None  # the model's own default
        if model.startswith("dall-e-3"):
            mapped = DALLE3_QUALITY.get(quality)
        elif model.startswith("dall-e"):
            mapped = None  # DALL·E 2 has one quality, "standard", which is also its default
        else:
            mapped = QUALITY_NAMES.get(quality, quality if quality in GPT_QUALITIES else None)
        if mapped is None and quality != "standard":
            m.drop("quality", quality, "has no such quality")
        return mapped

    def result(self, resp: http.HttpResponse, model: str, m: Mapping) -> ProviderResult:
        if not resp.ok:
            raise self.error(resp)
        body = resp.json()
        label = f"OpenAI {model}"
        images = []
        for item in body.get("data") or []:
            if item.get("b64_json"):
                images.append(b64_image(item["b64_json"], label=label, revised_prompt=item.get("revised_prompt")))
            elif item.get("url"):  # valid for 60 minutes: fetch now, from OpenAI's storage only
                got = http.download(item["url"], allowed_hosts=self.download_hosts())
                images.append(image(got.content, label=label, revised_prompt=item.get("revised_prompt")))
        if not images:
            raise ProviderError(f"{label} answered without an image.", code="empty_response")
        return ProviderResult(images=images, model=model, usage=body.get("usage") or {}, warnings=m.warnings,
                              request_id=resp.headers.get("x-request-id", ""))

    def streams_previews(self, model: str, fields: dict) -> bool:
        """Stream partial images only when someone listens, on OpenAI itself (compatible servers may not speak
        the image SSE events), for GPT image models (DALL·E cannot stream), one image at a time."""
        return (self.on_progress is not None and not self.base_url and not model.startswith("dall-e")
                and fields.get("n", 1) == 1)

    def generate_streamed(self, model: str, fields: dict, m: Mapping) -> ProviderResult:
        fields = {**fields, "stream": True, "partial_images": PARTIAL_IMAGES}
        return self.streamed("images/generations", "image_generation", model, m, json=fields)

    def streamed(self, path: str, events: str, model: str, m: Mapping, **body) -> ProviderResult:
        """`stream: true` + `partial_images` (providers.md §1.1): server-sent events `<events>.partial_image`
        (b64_json, partial_image_index) then `<events>.completed` (b64_json, usage), where `events` is
        image_generation or image_edit. Each partial goes to on_progress; the completed event is the result."""
        label = f"OpenAI {model}"
        with http.stream("POST", f"{self.root}/{path}", headers=self.headers(), timeout_total=180, **body) as resp:
            if not resp.ok:
                raise self.error(resp.read())
            self.progress(0)
            for event in sse_events(resp.lines()):
                kind = event.get("type", "")
                if kind == f"{events}.partial_image" and event.get("b64_json"):
                    index = event.get("partial_image_index", 0)
                    index = index if isinstance(index, int) and 0 <= index < PARTIAL_IMAGES else 0
                    partial = b64_image(event["b64_json"], label=label)
                    self.progress(100 * (index + 1) // (PARTIAL_IMAGES + 1), partial.data)
                elif kind == f"{events}.completed" and event.get("b64_json"):
                    self.progress(100)
                    return ProviderResult(images=[b64_image(event["b64_json"], label=label)], model=model,
                                          usage=event.get("usage") or {}, warnings=m.warnings,
                                          request_id=resp.headers.get("x-request-id", ""))
                elif kind == "error" or "error" in event:
                    err = event.get("error") if isinstance(event.get("error"), dict) else event
                    code = err.get("code")
                    message = redact(str(err.get("message") or "the stream reported an error"), self.api_key)
                    if code in ("content_policy_violation", "moderation_blocked"):
                        raise ProviderError(f"OpenAI refused the request: {message}", code="content_policy")
                    raise ProviderError(f"{label} failed while streaming: {message}", code="provider_error",
                                        retryable=True)
        raise ProviderError(f"{label} ended the stream without an image.", code="empty_response", retryable=True)

    def download_hosts(self) -> list[str]:
        return ["*.blob.core.windows.net", urlsplit(self.root).hostname or "api.openai.com"]

    def error(self, resp: http.HttpResponse) -> ProviderError:
        body = resp.json_or_none()
        err = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else {}
        code, message = err.get("code"), str(err.get("message") or "")
        if code in ("content_policy_violation", "moderation_blocked"):
            return error_for(resp, label="OpenAI", detail=message, api_key=self.api_key, code="content_policy")
        if code == "insufficient_quota":  # a 429 that waiting does not fix
            return error_for(resp, label="OpenAI", detail=message, api_key=self.api_key, code="provider_error")
        return error_for(resp, label="OpenAI", detail=message, api_key=self.api_key)

    def validate_key(self) -> dict:
        return {"models": len(self.list_models(image_only=False))}

    def list_models(self, image_only: bool = True) -> list[str]:
        resp = http.request("GET", f"{self.root}/models", headers=self.headers())
        if not resp.ok:
            raise self.error(resp)
        ids = [str(item.get("id")) for item in resp.json().get("data") or [] if item.get("id")]
        images = [i for i in ids if i.startswith(("gpt-image", "dall-e", "chatgpt-image"))]
        return images if image_only and images else ids  # compatible servers name models freely
