"""AUTOMATIC1111 stable-diffusion-webui (providers.md §6), self-hosted: POST /sdapi/v1/txt2img and img2img.

The server must run with --api and be on the operator's IMAGEGEN_PRIVATE_ALLOWLIST if it is on a private
network. The "key" is optional `user:password` for --api-auth (HTTP Basic). `info` in the reply is a JSON
*string*; the real seeds are in it. Slow GPUs get the long self-hosted deadline.
"""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from typing import ClassVar

from imagegen_site import http

from .base import Capabilities, ImageRequest, Provider, ProviderError, ProviderResult
from .common import Mapping, b64_image, error_for, sd_size

ASPECTS = ("1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9")
SELF_HOSTED_DEADLINE = 600


class Automatic1111Provider(Provider):
    kind = "automatic1111"
    label = "AUTOMATIC1111 (self-hosted)"
    capabilities = Capabilities(edit=True, mask=True, n_max=8, aspect_ratios=ASPECTS, negative_prompt=True, seed=True,
                                steps=True, guidance=True, strength=True, needs_key=False, needs_base_url=True,
                                max_side=2048)
    progress_interval: ClassVar[float] = 1.0  # seconds between GET /sdapi/v1/progress while an image is made

    @property
    def root(self) -> str:
        return (self.base_url or "").rstrip("/")

    def auth(self) -> tuple[str, str] | None:
        user, sep, password = (self.api_key or "").partition(":")
        return (user, password) if sep else None

    def generate(self, request: ImageRequest) -> ProviderResult:
        body, m, n = self.body(request)
        return self.send("txt2img", body, m, n, request.model)

    def edit(self, request: ImageRequest) -> ProviderResult:
        if not request.input_images:
            raise ProviderError("An edit needs an input image.", code="validation_error")
        body, m, n = self.body(request)
        body["init_images"] = [base64.b64encode(data).decode() for data, _ in request.input_images[:1]]
        body["denoising_strength"] = float(request.extra.get("strength", 0.75))
        if request.mask is not None:
            # Inpaint: white = change (the canonical mask), a soft edge, starting from the original pixels there.
            body["mask"] = base64.b64encode(request.mask).decode()
            body |= {"mask_blur": int(request.extra.get("mask_blur", 4)),
                     "inpainting_fill": int(request.extra.get("inpainting_fill", 1)),
                     "inpaint_full_res": False, "inpainting_mask_invert": 0}
        return self.send("img2img", body, m, n, request.model)

    def body(self, request: ImageRequest) -> tuple[dict, Mapping, int]:
        m = Mapping("AUTOMATIC1111")
        n = m.common(request, self.capabilities)
        body: dict = {"prompt": request.prompt, "batch_size": n, "n_iter": 1}
        optional = {"negative_prompt": request.negative_prompt or None, "steps": request.steps,
                    "cfg_scale": request.guidance, "seed": request.seed,
                    "sampler_name": request.extra.get("sampler"), "scheduler": request.extra.get("scheduler")}
        body.update({k: v for k, v in optional.items() if v is not None})  # the server's defaults otherwise
        size = sd_size(request, m, max_side=self.capabilities.max_side)
        if size:
            body["width"], body["height"] = size
        if request.model:  # a checkpoint title from list_models(); restored after the call by default
            body["override_settings"] = {"sd_model_checkpoint": request.model}
        return body, m, n

    def send(self, route: str, body: dict, m: Mapping, n: int, model: str) -> ProviderResult:
        resp = self.post_with_progress(route, body) if self.on_progress else \
            http.request("POST", f"{self.root}/sdapi/v1/{route}", json=body, auth=self.auth(),
                         timeout_total=SELF_HOSTED_DEADLINE)
        if not resp.ok:
            raise self.error(resp)
        data = resp.json()
        try:
            info = json.loads(data.get("info") or "{}")
        except ValueError:
            info = {}
        seeds = info.get("all_seeds") or [info.get("seed")] * n
        # With several images the server may put a grid first; keep the last n, which are the images.
        images = [b64_image(b64, label="AUTOMATIC1111", seed=seeds[i] if i < len(seeds) else None)
                  for i, b64 in enumerate((data.get("images") or [])[-n:])]
        if not images:
            raise ProviderError("AUTOMATIC1111 answered without an image.", code="empty_response")
        return ProviderResult(images=images, model=model or str(info.get("sd_model_name") or ""), warnings=m.warnings)

    def post_with_progress(self, route: str, body: dict) -> http.HttpResponse:
        """txt2img/img2img blocks until the image is done, so it runs in a helper thread while this thread polls
        GET /sdapi/v1/progress (providers.md §6) and reports percent and the live preview (`current_image`, when
        the server has live previews on). The listener is only ever called from this, the caller's, thread.
        The progress route is server-wide: if another client's job runs first, its progress is what we see."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="a1111-post") as pool:
            future = pool.submit(http.request, "POST", f"{self.root}/sdapi/v1/{route}", json=body,
                                 auth=self.auth(), timeout_total=SELF_HOSTED_DEADLINE)
            last_image = ""
            while True:
                try:
                    return future.result(timeout=self.progress_interval)
                except FuturesTimeout:
                    pass
                try:
                    state = http.request("GET", f"{self.root}/sdapi/v1/progress", auth=self.auth(),
                                         params={"skip_current_image": "false"}, timeout_total=10).json_or_none()
                except ProviderError:
                    continue  # progress is a nicety; the generation itself decides success
                if not isinstance(state, dict) or future.done():
                    continue
                fraction = state.get("progress")
                current = state.get("current_image") or ""
                preview = None
                if isinstance(current, str) and current and current != last_image:
                    try:
                        preview = b64_image(current, label="AUTOMATIC1111").data
                        last_image = current
                    except ProviderError:
                        preview = None
                percent = fraction * 100 if isinstance(fraction, (int, float)) and 0 <= fraction <= 1 else None
                self.progress(percent, preview)

    def error(self, resp: http.HttpResponse) -> ProviderError:
        body = resp.json_or_none()
        detail = body.get("detail") if isinstance(body, dict) else ""
        if isinstance(detail, list):  # FastAPI validation: [{"loc": [...], "msg": ...}]
            detail = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
        if resp.status == 404:
            detail = "no API here; start the server with --api"
        return error_for(resp, label="AUTOMATIC1111", detail=str(detail or ""), api_key=self.api_key)

    def validate_key(self) -> dict:
        return {"models": len(self.list_models())}

    def list_models(self) -> list[str]:
        resp = http.request("GET", f"{self.root}/sdapi/v1/sd-models", auth=self.auth(), timeout_total=30)
        if not resp.ok:
            raise self.error(resp)
        return [str(item["title"]) for item in resp.json() or [] if isinstance(item, dict) and item.get("title")]
