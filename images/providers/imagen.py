"""Google Imagen through the Gemini API (providers.md §3): POST v1beta/models/{imagen}:predict.

Deprecated: google-genai 3.x refuses Imagen outside Vertex, so failures point the user to the Gemini provider.
The Gemini API takes no negative prompt and no seed for Imagen (Vertex only); both are dropped and said. Images
the safety filter removes are simply missing from `predictions`.
"""

from __future__ import annotations

from imagegen_site import http

from .base import Capabilities, ImageRequest, Provider, ProviderError, ProviderResult
from .common import Mapping, b64_image
from .gemini import ROOT, GeminiProvider, google_error, list_google_models

ASPECTS = ("1:1", "3:4", "4:3", "9:16", "16:9")
PERSON_GENERATION = ("dont_allow", "allow_adult")  # ALLOW_ALL is rejected on the Gemini API
VERTEX_ONLY = "takes it only on Vertex AI, not on the Gemini API"
HINT = " Imagen on the Gemini API is deprecated; use the Google Gemini provider instead."


class ImagenProvider(Provider):
    kind = "imagen"
    label = "Google Imagen (deprecated)"
    description = "Deprecated on the Gemini API: prefer the Google Gemini provider."
    capabilities = Capabilities(n_max=4, aspect_ratios=ASPECTS,
                                models=("imagen-4.0-generate-001", "imagen-4.0-ultra-generate-001",
                                        "imagen-4.0-fast-generate-001", "imagen-3.0-generate-002"),
                                default_model="imagen-4.0-generate-001")

    @classmethod
    def capabilities_for(cls, model: str) -> Capabilities:
        if "ultra" in model:  # Imagen 4 Ultra makes one image per request
            return Capabilities(n_max=1, aspect_ratios=ASPECTS, models=cls.capabilities.models)
        return cls.capabilities

    def generate(self, request: ImageRequest) -> ProviderResult:
        model = request.model or self.capabilities.default_model
        m = Mapping(f"Imagen {model}")
        n = m.common(request, self.capabilities_for(model), {"negative_prompt": VERTEX_ONLY, "seed": VERTEX_ONLY})
        parameters: dict = {"sampleCount": n}
        ratio = m.ratio(request, ASPECTS)
        if ratio:
            parameters["aspectRatio"] = ratio
        person = str(request.extra.get("person_generation") or "").lower()
        if person in PERSON_GENERATION:
            parameters["personGeneration"] = person
        elif person:
            m.drop("person_generation", person, "allows dont_allow and allow_adult only")
        size = str(request.extra.get("image_size") or "").upper() or (
            "2K" if max(request.width or 0, request.height or 0) > 1024 else "")
        if size and (size not in ("1K", "2K") or model.startswith("imagen-3")):
            m.drop("image_size", size, "has no such image size")
        elif size:
            parameters["sampleImageSize"] = size
        resp = http.request("POST", f"{ROOT}/models/{model}:predict", headers={"x-goog-api-key": self.api_key or ""},
                            json={"instances": [{"prompt": request.prompt}], "parameters": parameters})
        if not resp.ok:
            hint = HINT if resp.status in (400, 403, 404) else ""
            raise google_error(resp, label="Imagen", api_key=self.api_key, hint=hint)
        predictions = resp.json().get("predictions") or []
        images = [b64_image(p["bytesBase64Encoded"], label="Imagen") for p in predictions
                  if isinstance(p, dict) and p.get("bytesBase64Encoded")]
        filtered = [p.get("raiFilteredReason") for p in predictions if isinstance(p, dict) and
                    p.get("raiFilteredReason")]
        if not images:
            if filtered:
                raise ProviderError(f"Imagen's safety filter removed the image: {filtered[0]}", code="content_policy")
            raise ProviderError("Imagen answered without an image." + HINT, code="empty_response")
        if len(images) < n:
            m.note(f"Imagen made {len(images)} of {n} images; the safety filter removed the rest.")
        return ProviderResult(images=images, model=model, warnings=m.warnings)

    def validate_key(self) -> dict:
        return GeminiProvider(api_key=self.api_key).validate_key()  # same key, same cheapest call

    def list_models(self) -> list[str]:
        return [n for n in list_google_models(self.api_key, method="predict", label="Imagen") if "imagen" in n]
