"""xAI Grok Imagine (providers.md §2): POST /v1/images/generations and JSON-only /v1/images/edits.

xAI takes aspect_ratio and resolution but no size or style; those are dropped and said. A wrong key is a 400 with
its own body shape ({"code": …, "error": "Incorrect API key …"}), not a 401. Cost comes as usd ticks (1e-10 USD).
"""

from __future__ import annotations

from imagegen_site import http

from .base import Capabilities, ImageRequest, Provider, ProviderError, ProviderResult
from .common import Mapping, b64_image, data_uri, error_for, image

ROOT = "https://api.x.ai/v1"
ASPECTS = ("1:1", "3:4", "4:3", "9:16", "16:9", "2:3", "3:2", "9:19.5", "19.5:9", "9:20", "20:9", "1:2", "2:1")
TICKS_PER_USD = 10_000_000_000
DOWNLOAD_HOSTS = ["imgen.x.ai", "*.x.ai"]


class XAIProvider(Provider):
    kind = "xai"
    label = "xAI Grok Imagine"
    capabilities = Capabilities(edit=True, n_max=10, aspect_ratios=ASPECTS,
                                models=("grok-imagine-image", "grok-imagine-image-quality", "grok-imagine-image-2.0"),
                                default_model="grok-imagine-image")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def generate(self, request: ImageRequest) -> ProviderResult:
        body, m = self.body(request)
        if request.aspect_ratio or (request.width and request.height):
            body["aspect_ratio"] = m.ratio(request, ASPECTS)
        return self.send("images/generations", body, m)

    def edit(self, request: ImageRequest) -> ProviderResult:
        if not request.input_images:
            raise ProviderError("An edit needs an input image.", code="validation_error")
        body, m = self.body(request)
        refs = [{"url": data_uri(data, mime)} for data, mime in request.input_images[:3]]
        if len(request.input_images) > 3:
            m.note("xAI takes at most 3 reference images; the rest were dropped.")
        if len(refs) == 1:
            body["image"] = refs[0]
            if request.aspect_ratio:  # a single-image edit keeps the input's shape
                m.drop("aspect_ratio", request.aspect_ratio, "takes an aspect ratio only for multi-image edits")
        else:
            body["images"] = refs
            if request.aspect_ratio or (request.width and request.height):
                body["aspect_ratio"] = m.ratio(request, ASPECTS)
        return self.send("images/edits", body, m)

    def body(self, request: ImageRequest) -> tuple[dict, Mapping]:
        model = request.model or self.capabilities.default_model
        m = Mapping("xAI")
        body: dict = {"model": model, "prompt": request.prompt, "n": m.common(request, self.capabilities),
                      "response_format": "b64_json"}
        resolution = str(request.extra.get("resolution") or "").lower()
        if resolution in ("1k", "2k"):
            body["resolution"] = resolution  # lowercase on the wire
        elif resolution:
            m.drop("resolution", resolution, "has resolutions 1k and 2k only")
        return body, m

    def send(self, path: str, body: dict, m: Mapping) -> ProviderResult:
        resp = http.request("POST", f"{ROOT}/{path}", headers=self.headers(), json=body)
        if not resp.ok:
            raise self.error(resp)
        data = resp.json()
        images = []
        for item in data.get("data") or []:
            if item.get("b64_json"):  # may carry a data:…;base64, prefix (older docs); b64_image strips it
                images.append(b64_image(item["b64_json"], label="xAI", revised_prompt=item.get("revised_prompt")))
            elif item.get("url"):  # temporary URLs: fetch now
                got = http.download(item["url"], allowed_hosts=DOWNLOAD_HOSTS)
                images.append(image(got.content, label="xAI", revised_prompt=item.get("revised_prompt")))
        if not images:
            raise ProviderError("xAI answered without an image.", code="empty_response")
        usage = data.get("usage") or {}
        ticks = usage.get("cost_in_usd_ticks")
        return ProviderResult(images=images, model=body["model"], usage=usage, warnings=m.warnings,
                              cost_usd=ticks / TICKS_PER_USD if isinstance(ticks, (int, float)) else None,
                              request_id=resp.headers.get("x-request-id", ""))

    def error(self, resp: http.HttpResponse) -> ProviderError:
        body = resp.json_or_none()
        err = body.get("error") if isinstance(body, dict) else None
        message = str(err.get("message") or "") if isinstance(err, dict) else str(err or "")
        if resp.status in (400, 401, 403) and "api key" in message.lower():
            # xAI answers an incorrect key with 400; the message echoes part of the key, so don't keep it.
            return ProviderError(f"xAI rejected the API key (HTTP {resp.status}).", code="provider_auth_failed",
                                 status=resp.status)
        return error_for(resp, label="xAI", detail=message, api_key=self.api_key)

    def validate_key(self) -> dict:
        resp = http.request("GET", f"{ROOT}/api-key", headers=self.headers())
        if not resp.ok:
            raise self.error(resp)
        info = resp.json()
        if info.get("team_blocked") or info.get("api_key_blocked") or info.get("api_key_disabled"):
            raise ProviderError("xAI says this API key is blocked or disabled.", code="provider_auth_failed")
        return {"name": info.get("name", "")}

    def list_models(self) -> list[str]:
        resp = http.request("GET", f"{ROOT}/image-generation-models", headers=self.headers())
        if not resp.ok:
            raise self.error(resp)
        body = resp.json()
        items = body.get("models") or body.get("data") or [] if isinstance(body, dict) else []
        return [str(item["id"]) for item in items if isinstance(item, dict) and item.get("id")]
