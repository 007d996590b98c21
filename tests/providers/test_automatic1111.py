"""AUTOMATIC1111 (self-hosted): payloads in tests/fixtures/providers/automatic1111 (providers.md §6)."""

from __future__ import annotations

import base64
import json
from typing import Any, Callable

import pytest
import responses

from imagegen_site import http as safe_http
from images.providers.automatic1111 import Automatic1111Provider
from images.providers.base import ImageRequest, ProviderError

from .support import B64_PNG, PNG, fixture, reply, sent_json

BASE = "http://127.0.0.1:7860"
TXT2IMG = f"{BASE}/sdapi/v1/txt2img"


@pytest.fixture(autouse=True)
def server_allowed(allowlist: Callable[..., None]) -> None:
    allowlist("127.0.0.1:7860")  # the operator allowed this self-hosted server


def provider(key: str | None = None) -> Automatic1111Provider:
    return Automatic1111Provider(api_key=key, base_url=BASE + "/")


def answer(seeds: list[int], images: int) -> dict[str, Any]:
    return {"images": [B64_PNG] * images, "parameters": {},
            "info": json.dumps({"seed": seeds[0], "all_seeds": seeds, "sd_model_name": "v1-5-pruned-emaonly"})}


def test_it_sends_txt2img_fields_and_reads_the_real_seed_from_info(http: responses.RequestsMock) -> None:
    http.post(TXT2IMG, **reply("automatic1111", "txt2img_success"))
    result = provider().generate(ImageRequest(
        prompt="a red fox in the snow", negative_prompt="blurry", steps=20, guidance=7, width=512, height=512,
        seed=-1, model="v1-5-pruned-emaonly.safetensors [6ce0161689]",
        extra={"sampler": "Euler a", "scheduler": "Automatic"}))
    assert sent_json(http.calls[0]) == fixture("automatic1111", "txt2img_success")["request"]["json"]
    assert "Authorization" not in http.calls[0].request.headers
    assert result.images[0].data == PNG
    assert result.images[0].seed == 2684451721  # from the info JSON string, not the -1 we sent
    assert result.warnings == []


def test_it_maps_an_aspect_ratio_to_a_size_and_skips_the_grid(http: responses.RequestsMock) -> None:
    http.post(TXT2IMG, json=answer([5, 6], images=3))  # grid first, then the two images
    result = provider().generate(ImageRequest(prompt="fox", aspect_ratio="16:9", n=2, seed=5))
    assert sent_json(http.calls[0]) == {"prompt": "fox", "batch_size": 2, "n_iter": 1, "seed": 5,
                                        "width": 704, "height": 384}
    assert [i.seed for i in result.images] == [5, 6]


def test_it_sizes_for_sdxl_when_told_the_base_size(http: responses.RequestsMock) -> None:
    http.post(TXT2IMG, json=answer([1], images=1))
    provider().generate(ImageRequest(prompt="fox", aspect_ratio="16:9", extra={"base_size": 1024}))
    assert (sent_json(http.calls[0])["width"], sent_json(http.calls[0])["height"]) == (1344, 768)


def test_it_drops_quality_and_style_and_rounds_sizes_saying_so(http: responses.RequestsMock) -> None:
    http.post(TXT2IMG, json=answer([1], images=1))
    result = provider().generate(ImageRequest(prompt="fox", quality="hd", style="vivid", width=1001, height=3000))
    body = sent_json(http.calls[0])
    assert (body["width"], body["height"]) == (680, 2048)
    assert "quality" not in body and "style" not in body
    text = " ".join(result.warnings)
    assert "quality=hd" in text and "style=vivid" in text and "used 680x2048" in text


def test_it_maps_sampler_not_found_to_a_permanent_provider_error(http: responses.RequestsMock) -> None:
    http.post(TXT2IMG, **reply("automatic1111", "error_400_sampler_not_found"))
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="fox", extra={"sampler": "Nope"}))
    assert (exc.value.code, exc.value.retryable) == ("provider_error", False)
    assert "Sampler not found" in exc.value.message


def test_it_sends_basic_auth_and_maps_401_to_provider_auth_failed(http: responses.RequestsMock) -> None:
    http.get(f"{BASE}/sdapi/v1/sd-models", **reply("automatic1111", "error_401_api_auth"))
    with pytest.raises(ProviderError) as exc:
        provider("alice:s3cret").validate_key()
    assert exc.value.code == "provider_auth_failed"
    assert http.calls[0].request.headers["Authorization"] == "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert "s3cret" not in exc.value.message


def test_it_explains_a_404_as_a_server_started_without_api(http: responses.RequestsMock) -> None:
    http.post(TXT2IMG, status=404, json={"detail": "Not Found"})
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="fox"))
    assert "--api" in exc.value.message


def test_it_reports_fastapi_validation_errors(http: responses.RequestsMock) -> None:
    http.post(TXT2IMG, status=422, json={"detail": [{"loc": ["body", "steps"], "msg": "value is not a valid integer",
                                                     "type": "type_error.integer"}]})
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="fox"))
    assert "value is not a valid integer" in exc.value.message


def test_it_refuses_a_private_server_the_operator_has_not_allowed(allowlist: Callable[..., None]) -> None:
    allowlist()
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="fox"))
    assert exc.value.code == "url_forbidden"


def test_it_gives_a_self_hosted_server_the_long_deadline(http: responses.RequestsMock,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    real = safe_http.request
    monkeypatch.setattr(safe_http, "request", lambda *a, **k: seen.append(k["timeout_total"]) or real(*a, **k))
    http.post(TXT2IMG, json=answer([1], images=1))
    provider().generate(ImageRequest(prompt="fox"))
    assert seen == [600]


def test_it_edits_with_img2img(http: responses.RequestsMock) -> None:
    http.post(f"{BASE}/sdapi/v1/img2img", json=answer([9], images=1))
    provider().edit(ImageRequest(prompt="fox at night", input_images=((PNG, "image/png"),), extra={"strength": 0.5}))
    body = sent_json(http.calls[0])
    assert body["init_images"] == [B64_PNG] and body["denoising_strength"] == 0.5


def test_it_validates_the_server_and_lists_checkpoints(http: responses.RequestsMock) -> None:
    http.get(f"{BASE}/sdapi/v1/sd-models", **reply("automatic1111", "sd_models_success"))
    http.get(f"{BASE}/sdapi/v1/sd-models", **reply("automatic1111", "sd_models_success"))
    assert provider().validate_key() == {"models": 1}
    assert provider().list_models() == ["v1-5-pruned-emaonly.safetensors [6ce0161689]"]


def test_it_needs_a_base_url_and_no_key() -> None:
    from images.providers import get_provider

    with pytest.raises(ProviderError) as exc:
        get_provider("automatic1111")
    assert exc.value.code == "validation_error"
    assert isinstance(get_provider("automatic1111", base_url=BASE), Automatic1111Provider)
