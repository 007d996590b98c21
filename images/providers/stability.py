"""Stability AI Stable Image v2beta (providers.md §5): POST /v2beta/stable-image/generate/{core,ultra,sd3}.

Every generate endpoint wants multipart/form-data, even without a file (requests needs a `files` entry to send
multipart). We ask for JSON (`Accept: application/json`) so the finish reason and seed come in the body. A blurred
CONTENT_FILTERED result arrives as a 200 and is refused as content_policy. A 403 is moderation, not a bad key.
"""

from __future__ import annotations

from imagegen_site import http

from .base import Capabilities, ImageRequest, Provider, ProviderError, ProviderResult
from .common import Mapping, b64_image, error_for, image

ROOT = "https://api.stability.ai"
ASPECTS = ("21:9", "16:9", "3:2", "5:4", "1:1", "4:5", "2:3", "9:16", "9:21")
PRESETS = ("enhance", "anime", "photographic", "digital-art", "comic-book", "fantasy-art", "line-art", "analog-film",
           "neon-punk", "isometric", "low-poly", "origami", "modeling-compound", "cinematic", "3d-model", "pixel-art",
           "tile-texture")
SD3 = ("sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "sd3-large", "sd3-large-turbo", "sd3-medium")
MODELS = {
    "core": Capabilities(aspect_ratios=ASPECTS, styles=PRESETS, negative_prompt=True, seed=True),
    "ultra": Capabilities(edit=True, mask=True, aspect_ratios=ASPECTS, negative_prompt=True, seed=True),
    # Turbo models take no negative prompt; cfg_scale is sd3-only.
    **{m: Capabilities(edit=True, mask=True, aspect_ratios=ASPECTS, negative_prompt="turbo" not in m, seed=True, guidance=True)
       for m in SD3},
}
FORMATS = {"sd3": ("png", "jpeg")}
MAX_SEED = 4_294_967_294


class StabilityProvider(Provider):
    kind = "stability"
    label = "Stability AI"
    capabilities = Capabilities(edit=True, mask=True, aspect_ratios=ASPECTS, styles=PRESETS, negative_prompt=True, seed=True,
                                guidance=True, models=tuple(MODELS), default_model="core")

    @classmethod
    def capabilities_for(cls, model: str) -> Capabilities:
        return MODELS.get(model, MODELS["core"])

    def generate(self, request: ImageRequest) -> ProviderResult:
        return self.call(request, editing=False)

    def edit(self, request: ImageRequest) -> ProviderResult:
        if not self.capabilities_for(request.model or "core").edit:
            raise ProviderError("Stable Image Core cannot edit images; pick ultra or an sd3 model.",
                                code="unsupported_provider")
        if not request.input_images:
            raise ProviderError("An edit needs an input image.", code="validation_error")
        if request.mask is not None:
            return self.inpaint(request)
        return self.call(request, editing=True)

    def inpaint(self, request: ImageRequest) -> ProviderResult:
        """POST /v2beta/stable-image/edit/inpaint: `image` and `mask` (white = change, as the canonical mask is);
        one service whatever the profile's model, so model-only options (strength, cfg_scale) are not sent."""
        model = request.model or self.capabilities.default_model
        m = Mapping(f"Stability {model}")
        caps = self.capabilities_for(model)
        m.common(request, caps)
        fields: dict[str, str] = {"prompt": request.prompt}
        if request.negative_prompt:
            fields["negative_prompt"] = request.negative_prompt
        if request.seed is not None:
            if 0 <= request.seed <= MAX_SEED:
                fields["seed"] = str(request.seed)
            else:
                m.drop("seed", request.seed, f"takes seeds 0–{MAX_SEED}")
        if request.guidance is not None and caps.guidance:
            m.drop("guidance", request.guidance, "takes no guidance when inpainting")
        if request.style in PRESETS:
            fields["style_preset"] = request.style
        fmt = str(request.extra.get("output_format") or "")
        if fmt in ("png", "jpeg", "webp"):
            fields["output_format"] = fmt
        if request.aspect_ratio:
            m.drop("aspect_ratio", request.aspect_ratio, "takes no aspect ratio when editing")
        data, mime = request.input_images[0]
        files = {"image": (f"image.{mime.split('/')[-1]}", data, mime), "mask": ("mask.png", request.mask, "image/png")}
        resp = http.request("POST", f"{ROOT}/v2beta/stable-image/edit/inpaint", data=fields, files=files,
                            headers={"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"})
        if not resp.ok:
            raise self.error(resp)
        return self.result(resp, model, m)

    def call(self, request: ImageRequest, *, editing: bool) -> ProviderResult:
        model = request.model or self.capabilities.default_model
        caps = self.capabilities_for(model)
        endpoint = model if model in ("core", "ultra") else "sd3"
        m = Mapping(f"Stability {model}")
        m.common(request, caps)
        fields: dict[str, str] = {"prompt": request.prompt}
        if endpoint == "sd3":
            fields["model"] = model
        if request.negative_prompt and caps.negative_prompt:
            fields["negative_prompt"] = request.negative_prompt
        ratio = m.ratio(request, ASPECTS)
        if ratio and editing:  # image-to-image keeps the input's shape
            m.drop("aspect_ratio", ratio, "takes no aspect ratio when editing")
        elif ratio:
            fields["aspect_ratio"] = ratio
        if request.seed is not None:
            if 0 <= request.seed <= MAX_SEED:
                fields["seed"] = str(request.seed)
            else:
                m.drop("seed", request.seed, f"takes seeds 0–{MAX_SEED}")
        if request.style and caps.styles:
            if request.style in PRESETS:
                fields["style_preset"] = request.style
            else:
                m.drop("style", request.style, "has no such style preset")
        if request.guidance is not None and caps.guidance:
            fields["cfg_scale"] = str(request.guidance)
        fmt = str(request.extra.get("output_format") or "")
        if fmt in FORMATS.get(endpoint, ("png", "jpeg", "webp")):
            fields["output_format"] = fmt
        elif fmt:
            m.drop("output_format", fmt, "has no such output format")
        files: dict = {"none": None}  # forces multipart with only the text fields (the official node's trick)
        if editing:
            data, mime = request.input_images[0]
            files = {"image": (f"image.{mime.split('/')[-1]}", data, mime)}
            fields["strength"] = str(request.extra.get("strength", 0.6))
            if endpoint == "sd3":
                fields["mode"] = "image-to-image"
            if len(request.input_images) > 1:
                m.note("Stability takes one input image; the rest were dropped.")
        resp = http.request("POST", f"{ROOT}/v2beta/stable-image/generate/{endpoint}", data=fields, files=files,
                            headers={"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"})
        if not resp.ok:
            raise self.error(resp)
        return self.result(resp, model, m)

    def result(self, resp: http.HttpResponse, model: str, m: Mapping) -> ProviderResult:
        if resp.content_type.startswith("image/"):  # raw mode: finish reason and seed are headers
            finish, seed, raw = resp.headers.get("finish-reason", ""), resp.headers.get("seed"), resp.content
        else:
            body = resp.json()
            finish, seed, raw = str(body.get("finish_reason") or ""), body.get("seed"), None
            if not body.get("image") and finish != "CONTENT_FILTERED":
                raise ProviderError("Stability answered without an image.", code="empty_response")
        if finish == "CONTENT_FILTERED":  # a 200 with a blurred image: not something to show
            raise ProviderError("Stability's content filter blurred the result.", code="content_policy")
        seed = int(seed) if str(seed or "").isdigit() else None
        img = image(raw, label="Stability", seed=seed) if raw is not None else \
            b64_image(body["image"], label="Stability", seed=seed)
        return ProviderResult(images=[img], model=model, warnings=m.warnings,
                              request_id=resp.headers.get("x-request-id", ""))

    def error(self, resp: http.HttpResponse) -> ProviderError:
        body = resp.json_or_none()
        body = body if isinstance(body, dict) else {}
        name = str(body.get("name") or "")
        errors = body.get("errors")
        detail = "; ".join(map(str, errors)) if isinstance(errors, list) else str(body.get("message") or "")
        if name == "content_moderation":
            return error_for(resp, label="Stability", detail=detail, api_key=self.api_key, code="content_policy")
        if name == "payment_required" or resp.status == 402:
            return error_for(resp, label="Stability", detail=detail or "not enough credits", api_key=self.api_key,
                             code="provider_error")
        return error_for(resp, label="Stability", detail=detail, api_key=self.api_key)

    def validate_key(self) -> dict:
        resp = http.request("GET", f"{ROOT}/v1/user/balance", headers={"Authorization": f"Bearer {self.api_key}"})
        if not resp.ok:
            raise self.error(resp)
        return {"credits": resp.json().get("credits")}

    def list_models(self) -> list[str]:
        return list(MODELS)  # v2beta has no listing endpoint; these are the documented ones
