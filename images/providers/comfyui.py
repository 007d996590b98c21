"""ComfyUI (providers.md §7), self-hosted: POST /prompt, poll GET /history/{id}, fetch GET /view.

A built-in minimal txt2img workflow (the one in ComfyUI's script_examples) is filled with the prompt, negative,
seed, size, steps, cfg and checkpoint. An operator can supply their own API-format workflow in
extra["workflow"] with "{{prompt}}", "{{negative_prompt}}", "{{seed}}", "{{width}}", "{{height}}", "{{steps}}",
"{{cfg}}", "{{model}}" and "{{batch_size}}" placeholders.

Edits upload the source image (POST /upload/image, multipart `image`, answered {"name", "subfolder", "type"}) and
queue the built-in graph turned image-to-image: LoadImage → VAEEncode is the sampler's starting latent, and the
profile's `strength` (the key AUTOMATIC1111 reads too) is KSampler's denoise. A painted area is uploaded as its own
PNG and read by LoadImageMask's red channel (the canonical mask: white = change) into SetLatentNoiseMask, so only
that area is re-noised, starting from the original pixels there (A1111's default inpainting fill) and the strength
still applies; VAEEncodeForInpaint would grey the area out first and only suits denoise 1 with inpainting
checkpoints. An operator's own workflow is for new images only: edits use the built-in graph and say so.

/history decides when a prompt is done and what it made. When someone listens for progress, ComfyUI's websocket
(/ws?clientId=, opened before the prompt is queued so no event is missed) is read between polls for the sampler's
steps and the live preview frames; if it cannot open or drops, polling carries on alone.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import random
import struct
import time
import uuid
from typing import Any, ClassVar

from imagegen_site import http

from .base import Capabilities, ImageRequest, ProgressCallback, Provider, ProviderError, ProviderResult
from .common import Mapping, error_for, image, sd_size

logger = logging.getLogger(__name__)

DEADLINE = 600  # a queue on a home GPU can be long
WS_MAX_BYTES = 4 * 1024 * 1024  # one websocket message; a bigger one ends the websocket, not the generation
PREVIEW_MAX_BYTES = 2 * 1024 * 1024  # a bigger preview frame is skipped
PREVIEW_EVERY = 1.0  # seconds between preview frames passed on
PREVIEW_IMAGE = 1  # binary frame: 4-byte event type, 4-byte image format (1 JPEG, 2 PNG), the image
DEFAULT_STRENGTH = 0.75  # an edit's denoise when the profile sets no `strength` (AUTOMATIC1111's default too)
UPLOAD_SUFFIX = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
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


def edit_workflow(filled: dict, source: str, mask: str | None, n: int, strength: float) -> dict:
    """The filled built-in txt2img graph made image-to-image: the uploaded source, encoded by the checkpoint's VAE,
    replaces the empty latent (node 5 keeps its id, so the sampler's link is unchanged); a painted area limits the
    re-noising to itself (see the module docstring for why not VAEEncodeForInpaint)."""
    workflow = dict(filled)
    workflow["10"] = {"class_type": "LoadImage", "inputs": {"image": source}}
    workflow["5"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0], "vae": ["4", 2]}}
    latent = ["5", 0]
    if mask is not None:
        workflow["11"] = {"class_type": "LoadImageMask", "inputs": {"image": mask, "channel": "red"}}
        workflow["12"] = {"class_type": "SetLatentNoiseMask", "inputs": {"samples": latent, "mask": ["11", 0]}}
        latent = ["12", 0]
    if n > 1:  # one source gives a batch of one; several variations need the latent repeated
        workflow["13"] = {"class_type": "RepeatLatentBatch", "inputs": {"samples": latent, "amount": n}}
        latent = ["13", 0]
    workflow["3"] = {**workflow["3"], "inputs": {**workflow["3"]["inputs"], "latent_image": latent,
                                                 "denoise": strength}}
    return workflow


class LiveProgress:
    """ComfyUI's websocket for one prompt (providers.md §7), read between /history polls on the caller's thread
    (the listener writes to the database). Best effort: any failure closes it and polling goes on alone.

    Percent: a workflow may run several samplers, so each sampler the run did not take from cache gets an equal
    share, in the order they start; the figure never goes back, and stays at 99 until the prompt has finished."""

    def __init__(self, ws: http.WebSocket, report: ProgressCallback) -> None:
        self.ws: http.WebSocket | None = ws
        self.report = report
        self.prompt_id = ""
        self.samplers: set[str] = set()
        self.started: list[str] = []  # sampler nodes in the order their steps began
        self.percent: int | None = None
        self.reported: int | None = None
        self.preview: bytes | None = None
        self.preview_at = float("-inf")
        self.finished = False

    @property
    def alive(self) -> bool:
        return self.ws is not None

    def expect(self, prompt_id: str, workflow: dict) -> None:
        self.prompt_id = prompt_id
        self.samplers = {str(node_id) for node_id, node in workflow.items()
                         if isinstance(node, dict) and "sampler" in str(node.get("class_type", "")).lower()}

    def listen(self, seconds: float) -> None:
        """Read what arrives for up to `seconds` (less once the prompt has finished) and report what changed."""
        until = time.monotonic() + seconds
        try:
            while self.ws is not None and not self.finished:
                remaining = until - time.monotonic()
                if remaining <= 0:
                    break
                message = self.ws.recv(timeout=remaining)
                if message is None:
                    break
                self.handle(message)
                self.flush()
        except ProviderError as e:  # dropped, a message over the cap, or the deadline: polling carries on
            logger.info("ComfyUI websocket ended (%s); polling /history only", e.message)
            self.close()
        self.flush()
        if self.finished:
            self.close()

    def handle(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            self.frame(message)
            return
        try:
            event = json.loads(message)
        except ValueError:
            return
        data = event.get("data") if isinstance(event, dict) else None
        if not isinstance(data, dict) or data.get("prompt_id") not in (None, self.prompt_id):
            return
        kind, ours = event.get("type"), data.get("prompt_id") == self.prompt_id
        if kind == "execution_cached" and isinstance(data.get("nodes"), list):
            self.samplers -= {str(node) for node in data["nodes"]}
        elif kind == "progress":
            self.step(str(data.get("node")), data.get("value"), data.get("max"))
        elif ours and (kind == "execution_success" or (kind == "executing" and data.get("node") is None)):
            self.finished, self.percent = True, 100
        elif ours and kind in ("execution_error", "execution_interrupted"):
            self.finished = True  # /history says what went wrong

    def step(self, node: str, value: object, maximum: object) -> None:
        if not (isinstance(value, (int, float)) and isinstance(maximum, (int, float)) and maximum > 0):
            return
        if self.samplers and node not in self.samplers:
            return  # a tiled VAE's or an upscaler's bar is not the sampling we measure
        if node not in self.started:
            self.started.append(node)
        share = max(len(self.samplers), len(self.started))
        fraction = (self.started.index(node) + min(max(value / maximum, 0.0), 1.0)) / share
        self.percent = max(self.percent or 0, min(int(fraction * 100), 99))

    def frame(self, data: bytes) -> None:
        if len(data) < 8 or len(data) - 8 > PREVIEW_MAX_BYTES:
            return
        event, image_format = struct.unpack(">II", data[:8])
        if event == PREVIEW_IMAGE and image_format in (1, 2):
            self.preview = data[8:]  # untrusted: the listener sanitises it (images/previews.py)

    def flush(self) -> None:
        preview, now = None, time.monotonic()
        if self.preview is not None and now - self.preview_at >= PREVIEW_EVERY:
            preview, self.preview, self.preview_at = self.preview, None, now
        if preview is not None or self.percent != self.reported:
            self.reported = self.percent
            self.report(self.percent, preview)

    def close(self) -> None:
        if self.ws is not None:
            ws, self.ws = self.ws, None
            ws.close()


class ComfyUIProvider(Provider):
    kind = "comfyui"
    label = "ComfyUI (self-hosted)"
    capabilities = Capabilities(edit=True, mask=True, n_max=4, aspect_ratios=ASPECTS, negative_prompt=True, seed=True,
                                steps=True, guidance=True, strength=True, needs_key=False, needs_base_url=True,
                                max_side=2048)
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
        values = self.values(request, n, width, height, needs_model="{{model}}" in text)
        return self.run(fill(copy.deepcopy(workflow), values), values, m, deadline)

    def edit(self, request: ImageRequest) -> ProviderResult:
        if not request.input_images:
            raise ProviderError("An edit needs an input image.", code="validation_error")
        deadline = time.monotonic() + DEADLINE
        m = Mapping("ComfyUI")
        n = m.common(request, self.capabilities)
        strength = self.strength(request.extra)
        if request.extra.get("workflow"):
            m.note("ComfyUI edits use the built-in image-to-image graph; the profile's own workflow makes new "
                   "images only.")
        data, mime = request.input_images[0]
        source = self.upload(data, mime, deadline)
        mask = self.upload(request.mask, "image/png", deadline) if request.mask is not None else None
        # The latent comes from the source, so its size is the source's: width and height are not used.
        values = self.values(request, n, 0, 0, needs_model=True)
        # The uploaded names go in after fill(): a name is the server's answer and never a placeholder.
        workflow = edit_workflow(fill(copy.deepcopy(WORKFLOW), values), source, mask, n, strength)
        return self.run(workflow, values, m, deadline)

    def values(self, request: ImageRequest, n: int, width: int, height: int, *, needs_model: bool) -> dict:
        """What fills a workflow's placeholders."""
        model = request.model
        if needs_model and not model:  # no checkpoint chosen: the server's first one
            model = next(iter(self.list_models()), "")
            if not model:
                raise ProviderError("ComfyUI has no checkpoints to use.", code="validation_error")
        # ComfyUI has no "random" seed value; pick one here so the seed used can be reported.
        seed = request.seed if request.seed is not None else random.randrange(2**32)
        return {"prompt": request.prompt, "negative_prompt": request.negative_prompt, "seed": seed, "width": width,
                "height": height, "steps": request.steps or 20, "cfg": request.guidance or 8.0, "model": model,
                "batch_size": n}

    @staticmethod
    def strength(extra: dict) -> float:
        """How much an edit changes (KSampler's denoise): 0 keeps the source, 1 ignores it."""
        try:
            strength = float(extra.get("strength", DEFAULT_STRENGTH))
        except (TypeError, ValueError):
            raise ProviderError("strength must be a number between 0 and 1.", code="validation_error") from None
        if not 0 < strength <= 1:
            raise ProviderError("strength must be a number between 0 and 1.", code="validation_error")
        return strength

    def upload(self, data: bytes, mime: str, deadline: float) -> str:
        """Put an image in ComfyUI's input folder (POST /upload/image) and return the name LoadImage reads it by.
        The file name is the bytes' digest, so sending the same image again overwrites it with itself."""
        name = f"imagegen_{hashlib.sha256(data).hexdigest()[:32]}.{UPLOAD_SUFFIX.get(mime, 'png')}"
        resp = http.request("POST", f"{self.root}/upload/image", files={"image": (name, data, mime)},
                            data={"type": "input", "overwrite": "true"},
                            timeout_total=min(max(deadline - time.monotonic(), 1), 120))
        if not resp.ok:
            detail = "no upload route here; is this a ComfyUI server?" if resp.status in (404, 405) else ""
            raise error_for(resp, label="ComfyUI's image upload", detail=detail, api_key=self.api_key)
        body = resp.json_or_none()
        uploaded = body.get("name") if isinstance(body, dict) else None
        if not isinstance(uploaded, str) or not uploaded:
            raise ProviderError("ComfyUI's image upload answered without a file name.", code="provider_error")
        subfolder = body.get("subfolder")
        return f"{subfolder}/{uploaded}" if isinstance(subfolder, str) and subfolder else uploaded

    def run(self, workflow: Any, values: dict, m: Mapping, deadline: float) -> ProviderResult:
        """Queue a filled workflow, wait for it and fetch what it saved."""
        client_id = uuid.uuid4().hex
        live = self.live(client_id, deadline)
        try:
            resp = http.request("POST", f"{self.root}/prompt", timeout_total=60,
                                json={"prompt": workflow, "client_id": client_id})
            if not resp.ok:
                raise self.error(resp)
            prompt_id = str(resp.json().get("prompt_id") or "")
            if live is not None:
                live.expect(prompt_id, workflow if isinstance(workflow, dict) else {})
            entry = self.wait(prompt_id, deadline, live)
        finally:
            if live is not None:
                live.close()
        images = []
        for output in (entry.get("outputs") or {}).values():
            for ref in output.get("images") or []:
                if ref.get("type") == "output":  # "temp" ones are previews
                    images.append(image(self.view(ref, deadline), label="ComfyUI", seed=values["seed"]))
        if not images:
            raise ProviderError("ComfyUI finished without an output image.", code="empty_response")
        return ProviderResult(images=images, model=values["model"] or "", warnings=m.warnings, request_id=prompt_id)

    def live(self, client_id: str, deadline: float) -> LiveProgress | None:
        """The websocket for this client id when someone listens for progress; None when it cannot open."""
        if self.on_progress is None:
            return None
        try:
            ws = http.websocket(f"{self.root}/ws?clientId={client_id}", max_bytes=WS_MAX_BYTES,
                                timeout_total=max(deadline - time.monotonic(), 1))
        except ProviderError as e:
            logger.info("ComfyUI websocket unavailable (%s); polling /history only", e.message)
            return None
        return LiveProgress(ws, self.progress)

    def wait(self, prompt_id: str, deadline: float, live: LiveProgress | None = None) -> dict:
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
            if live is not None and live.alive:
                live.listen(min(self.poll_interval, max(deadline - time.monotonic(), 0)))
            else:
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
