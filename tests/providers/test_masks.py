"""Masked edits (ImageRequest.mask: the canonical L-mode PNG, 255 = change) as each provider sends them: OpenAI as
an RGBA `mask` part whose transparent pixels are the area to change, Stability through the inpaint endpoint with
white = change, AUTOMATIC1111 as img2img's base64 `mask` with the inpainting fields (ComfyUI's uploaded mask
image: tests/providers/test_comfyui.py). Payload shapes: tests/fixtures/providers/*/…mask…/…inpaint….json."""

from __future__ import annotations

import base64
import io
from typing import Callable

import pytest
import responses
from PIL import Image

from images.providers.automatic1111 import Automatic1111Provider
from images.providers.base import ImageRequest
from images.providers.comfyui import ComfyUIProvider
from images.providers.openai import OpenAIProvider
from images.providers.stability import StabilityProvider

from .support import B64_PNG, PNG, fixture, reply, sent_files, sent_form, sent_json

SIZE = (8, 6)


def canonical_mask() -> bytes:
    """The left half painted (255 = change), as images/masks.py stores it."""
    img = Image.new("L", SIZE, 0)
    img.paste(255, (0, 0, 4, 6))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def source_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", SIZE, (10, 20, 30)).save(out, format="PNG")
    return out.getvalue()


def test_openai_sends_the_mask_as_rgba_with_transparent_pixels_to_change(http: responses.RequestsMock) -> None:
    fx = fixture("openai", "images_edit_mask_success")
    http.post(fx["url"], **reply("openai", "images_edit_mask_success"))
    result = OpenAIProvider(api_key="sk-test").edit(ImageRequest(
        prompt=fx["request"]["form"]["prompt"], model="gpt-image-1.5", input_images=((source_png(), "image/png"),),
        mask=canonical_mask()))
    assert sent_form(http.calls[0]) == fx["request"]["form"]
    files = sent_files(http.calls[0])
    assert set(files) == {"image[]", "mask"}
    filename, content_type, data = files["mask"]
    assert (filename, content_type) == ("mask.png", "image/png")
    mask = Image.open(io.BytesIO(data))
    assert (mask.format, mask.mode, mask.size) == ("PNG", "RGBA", SIZE)
    assert mask.getpixel((1, 1))[3] == 0 and mask.getpixel((6, 1))[3] == 255  # transparent = change
    assert files["image[]"][2] == source_png() and result.images[0].data == PNG


def test_openai_sends_no_mask_part_for_a_whole_image_edit(http: responses.RequestsMock) -> None:
    http.post("https://api.openai.com/v1/images/edits", **reply("openai", "images_edit_multipart_success"))
    OpenAIProvider(api_key="sk-test").edit(ImageRequest(prompt="x", input_images=((PNG, "image/png"),)))
    assert "mask" not in sent_files(http.calls[0])


def test_stability_inpaints_with_white_as_the_area_to_change(http: responses.RequestsMock) -> None:
    fx = fixture("stability", "inpaint_json_success")
    http.post(fx["url"], **reply("stability", "inpaint_json_success"))
    result = StabilityProvider(api_key="sk-test").edit(ImageRequest(
        prompt="a golden retriever sitting on the bench", negative_prompt="blurry", seed=7, model="sd3.5-large",
        guidance=4, aspect_ratio="16:9", input_images=((source_png(), "image/png"),), mask=canonical_mask(),
        extra={"output_format": "png", "strength": 0.4}))
    request = http.calls[0].request
    assert request.url == fx["url"]
    assert {k: request.headers[k] for k in ("Authorization", "Accept")} == fx["request"]["headers"]
    assert sent_form(http.calls[0]) == fx["request"]["form"]  # no model, strength, mode or cfg_scale
    files = sent_files(http.calls[0])
    assert files["image"] == ("image.png", "image/png", source_png())
    assert files["mask"] == ("mask.png", "image/png", canonical_mask())  # already white = change
    assert result.images[0].seed == 7
    assert any("aspect ratio" in w for w in result.warnings) and any("guidance" in w for w in result.warnings)


def test_a1111_sends_the_mask_with_inpainting_defaults(http: responses.RequestsMock,
                                                       allowlist: Callable[..., None]) -> None:
    allowlist("127.0.0.1:7860")
    fx = fixture("automatic1111", "img2img_inpaint_success")
    http.post(fx["url"], **reply("automatic1111", "img2img_inpaint_success"))
    result = Automatic1111Provider(base_url="http://127.0.0.1:7860/").edit(ImageRequest(
        prompt="a red fox wearing a hat", input_images=((PNG, "image/png"),), mask=canonical_mask()))
    body = sent_json(http.calls[0])
    assert base64.b64decode(body.pop("mask")) == canonical_mask()
    expected = dict(fx["request"]["json"])
    del expected["mask"]
    assert body == expected and body["init_images"] == [B64_PNG]
    assert result.images[0].seed == 1234567


@pytest.mark.parametrize("provider, model", [
    (OpenAIProvider, "gpt-image-1.5"), (OpenAIProvider, "dall-e-2"), (StabilityProvider, "ultra"),
    (Automatic1111Provider, ""), (ComfyUIProvider, ""),
])
def test_mask_capable_models_say_so(provider, model) -> None:
    assert provider.capabilities_for(model).mask and provider.capabilities_for(model).edit


def test_models_that_cannot_edit_cannot_mask() -> None:
    assert not OpenAIProvider.capabilities_for("dall-e-3").mask
    assert not StabilityProvider.capabilities_for("core").mask
