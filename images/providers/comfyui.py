"""ComfyUI (providers.md §7), self-hosted: POST /prompt, poll GET /history/{id}, fetch GET /view.

A built-in minimal txt2img workflow (the one in ComfyUI's script_examples) is filled with the prompt, negative,
seed, size, steps, cfg and checkpoint. An operator can supply their own API-format workflow in
extra["workflow"] with "{{prompt}}", "{{negative_prompt}}", "{{seed}}", "{{width}}", "{{height}}", "{{steps}}",
"{{cfg}}", "{{model}}" and "{{batch_size}}" placeholders. We poll /history instead of holding a websocket open.
"""

from __future__ import annotations

import copy
import json
import random
import time
import uuid
from typing import Any, ClassVar

from imagegen_site import http

from .base import Capabilities, ImageRequest, Provider, ProviderError, ProviderResult
from .common import Mapping, error_for, image, sd_size

DEADLINE = 600  # a queue on a home GPU can be long
ASPECTS = ("1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9")
WORKFLOW: dict = {
    "3": {"class_type": "KSampler", "inputs": {
        "seed": "{{seed}}", "steps": "{{steps}}", "cfg": "{{cfg}}", "sampler_name": "euler", "scheduler": "normal",
        "denoise": 1, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "{{model}}"}},
    "5": {"class_type": "EmptyLatentImage",
          "inputs": {"width": "{{width}}", "height": "{{height}}", "batch_size": "{{batch_size}}"}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{prompt}}", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "{{negative_prompt}}", "clip": ["4", 1]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "imagegen", "images": ["8", 0]}},
}


def fill(node: Any, values: dict[str, Any]) -> Any:
    """Replace "{{name}}" with the typed value (a seed stays an int); inside longer strings, with its text."""
    if isinstance(node, dict):
        return {k: fill(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [fill(v, values) for v in node]
    if isinstance(node, str):
        for name, value in values.items():
            if node == f"{{{{{name}}}}}":
                return value
            node = node.replace(f"{{{{{name}}}}}", str(value))
    return node


class ComfyUIProvider(Provider):
    kind = "comfyui"
    label = "ComfyUI (self-hosted)"
    capabilities = Capabilities(n_max=4, aspect_ratios=ASPECTS, negative_prompt=True, seed=True, steps=True,
                                guidance=True, needs_key=False, needs_base_url=True, max_side=2048)
    poll_interval: ClassVar[float] = 1.0

    @property
    def root(self) -> str:
        return (self.base_url or "").rstrip("/")

    def generate(self, request: ImageRequest) -> ProviderResult:
        deadline = time.monotonic() + DEADLINE
        m = Mapping("ComfyUI")
        n = m.common(request, self.capabilities)
        workflow = request.extra.get("workflow") or WORKFLOW
        if isinstance(workflow, str):
            try:
                workflow = json.loads(workflow)
            except ValueError:
                raise ProviderError("The ComfyUI workflow is not valid JSON.", code="validation_error") from None
        text = json.dumps(workflow)
        if "{{prompt}}" not in text:
            raise ProviderError("The ComfyUI workflow has no {{prompt}} placeholder.", code="validation_error")
        width, height = sd_size(request, m, max_side=self.capabilities.max_side) or (512, 512)
        model = request.model
        if "{{model}}" in text and not model:  # no checkpoint chosen: the server's first one
            model = next(iter(self.list_models()), "")
            if not model:
                raise ProviderError("ComfyUI has no checkpoints to use.", code="validation_error")
        # ComfyUI has no "random" seed value; pick one here so the seed used can be reported.
        seed = request.seed if request.seed is not None else random.randrange(2**32)
        values = {"prompt": request.prompt, "negative_prompt": request.negative_prompt, "seed": seed, "width": width,
                  "height": height, "steps": request.steps or 20, "cfg": request.guidance or 8.0, "model": model,
                  "batch_size": n}
        resp = http.request("POST", f"{self.root}/prompt", timeout_total=60,
                            json={"prompt": fill(copy.deepcopy(workflow), values), "client_id": uuid.uuid4().hex})
        if not resp.ok:
            raise self.error(resp)
        prompt_id = str(resp.json().get("prompt_id") or "")
        entry = self.wait(prompt_id, deadline)
        images = []
        for output in (entry.get("outputs") or {}).values():
            for ref in output.get("images") or []:
                if ref.get("type") == "output":  # "temp" ones are previews
                    images.append(image(self.view(ref, deadline), label="ComfyUI", seed=seed))
        if not images:
            raise ProviderError("ComfyUI finished without an output image.", code="empty_response")
        return ProviderResult(images=images, model=model or "", warnings=m.warnings, request_id=prompt_id)

    def wait(self, prompt_id: str, deadline: float) -> dict:
        while time.monotonic() < deadline:
            resp = http.request("GET", f"{self.root}/history/{prompt_id}", timeout_total=30)
            if not resp.ok:
                raise self.error(resp)
            entry = (resp.json() or {}).get(prompt_id)  # {} while queued or running
            if entry:
                status = entry.get("status") or {}
                if status.get("status_str") == "error":
                    raise ProviderError(f"ComfyUI failed running the workflow: {self.failure(status)}",
                                        code="provider_error")
                if status.get("completed", True):
                    return entry
            time.sleep(self.poll_interval)
        raise ProviderError("ComfyUI did not finish in time.", code="timeout", retryable=True)

    @staticmethod
    def failure(status: dict) -> str:
        for event, data in status.get("messages") or []:
            if event == "execution_error" and isinstance(data, dict):
                return f"{data.get('node_type', '')}: {data.get('exception_message', '')}".strip(": ")
        return "unknown error"

    def view(self, ref: dict, deadline: float) -> bytes:
        resp = http.request("GET", f"{self.root}/view", max_bytes=http.IMAGE_MAX_BYTES,
                            timeout_total=max(deadline - time.monotonic(), 1),
                            params={"filename": ref.get("filename", ""), "subfolder": ref.get("subfolder", ""),
                                    "type": ref.get("type", "output")})
        if not resp.ok:
            raise self.error(resp)
        return resp.content

    def error(self, resp: http.HttpResponse) -> ProviderError:
        body = resp.json_or_none()
        body = body if isinstance(body, dict) else {}
        err = body.get("error")
        if resp.status == 400 and err:  # the workflow failed validation: say which node and input
            message = f"{err.get('message', '')}: {err.get('details', '')}".strip(": ") if isinstance(err, dict) \
                else str(err)
            nodes = body.get("node_errors") if isinstance(body.get("node_errors"), dict) else {}
            for node_id, node in nodes.items():
                for e in node.get("errors") or []:
                    what = e.get("details") or e.get("message")
                    message += f"; node {node_id} ({node.get('class_type', '')}): {what}"
            return ProviderError(f"ComfyUI rejected the workflow: {message}", code="validation_error", status=400)
        return error_for(resp, label="ComfyUI", detail=str(err or ""), api_key=self.api_key)

    def validate_key(self) -> dict:
        resp = http.request("GET", f"{self.root}/system_stats", timeout_total=30)
        if not resp.ok:
            raise self.error(resp)
        return {"version": (resp.json().get("system") or {}).get("comfyui_version", "")}

    def list_models(self) -> list[str]:
        resp = http.request("GET", f"{self.root}/models/checkpoints", timeout_total=30)
        if not resp.ok:
            raise self.error(resp)
        return [str(name) for name in resp.json() or []]
