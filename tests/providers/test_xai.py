"""xAI Grok Imagine: payloads recorded in tests/fixtures/providers/xai (providers.md §2)."""

from __future__ import annotations

import base64

import pytest
import responses

from images.providers.base import ImageRequest, ProviderError
from images.providers.xai import XAIProvider

from .support import B64_PNG, JPEG, PNG, fixture, reply, sent_json

GENERATIONS = "https://api.x.ai/v1/images/generations"
EDITS = "https://api.x.ai/v1/images/edits"


def provider() -> XAIProvider:
    return XAIProvider(api_key="xai-test")


def test_it_sends_prompt_key_aspect_ratio_and_resolution(http: responses.RequestsMock) -> None:
    http.post(GENERATIONS, **reply("xai", "images_generate_b64_success"))
    result = provider().generate(ImageRequest(prompt="A cat in a tree", aspect_ratio="16:9",
                                              extra={"resolution": "1K"}))
    assert http.calls[0].request.headers["Authorization"] == "Bearer xai-test"
    assert sent_json(http.calls[0]) == fixture("xai", "images_generate_b64_success")["request"]["json"]
    assert result.images[0].data == PNG
    assert result.cost_usd == pytest.approx(0.02)  # 200 000 000 ticks of 1e-10 USD
    assert result.usage == {"cost_in_usd_ticks": 200000000}
    assert result.request_id == "0b8f5c52-1a6e-4d4e-9f2c-3c1e2d4a5b6c"
    assert result.warnings == []


def test_it_asks_for_several_images_and_downloads_url_results_at_once(http: responses.RequestsMock) -> None:
    http.post(GENERATIONS, **reply("xai", "images_generate_url_success"))
    for item in fixture("xai", "images_generate_url_success")["json"]["data"]:
        http.get(item["url"], body=JPEG, content_type="image/jpeg")
    result = provider().generate(ImageRequest(prompt="A cat in a tree", model="grok-imagine-image-quality", n=2))
    assert sent_json(http.calls[0]) == {"model": "grok-imagine-image-quality", "prompt": "A cat in a tree", "n": 2,
                                        "response_format": "b64_json"}
    assert [i.mime_type for i in result.images] == ["image/jpeg", "image/jpeg"]
    assert result.cost_usd == pytest.approx(0.04)


def test_it_drops_size_style_and_other_options_xai_lacks_and_says_so(http: responses.RequestsMock) -> None:
    http.post(GENERATIONS, **reply("xai", "images_generate_b64_success"))
    result = provider().generate(ImageRequest(prompt="cat", width=1000, height=600, style="vivid", quality="high",
                                              negative_prompt="dogs", seed=3, n=12, extra={"resolution": "8k"}))
    assert sent_json(http.calls[0]) == {"model": "grok-imagine-image", "prompt": "cat", "n": 10,
                                        "response_format": "b64_json", "aspect_ratio": "16:9"}
    text = " ".join(result.warnings)
    for dropped in ("size=1000x600", "style=vivid", "quality=high", "negative_prompt='dogs'", "seed=3",
                    "resolution=8k", "asked for 12, made 10"):
        assert dropped in text


def test_it_strips_a_data_uri_prefix_from_b64_json(http: responses.RequestsMock) -> None:
    http.post(GENERATIONS, json={"data": [{"b64_json": f"data:image/png;base64,{B64_PNG}"}]})
    assert provider().generate(ImageRequest(prompt="cat")).images[0].data == PNG


def test_it_maps_the_400_incorrect_key_body_to_provider_auth_failed(http: responses.RequestsMock) -> None:
    http.post(GENERATIONS, **reply("xai", "error_400_incorrect_api_key"))
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="cat"))
    assert (exc.value.code, exc.value.retryable) == ("provider_auth_failed", False)
    assert "xa***" not in exc.value.message


def test_it_maps_an_openai_style_400_to_a_permanent_provider_error(http: responses.RequestsMock) -> None:
    http.post(GENERATIONS, **reply("xai", "error_400_invalid_request_openai_style"))
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="cat"))
    assert (exc.value.code, exc.value.retryable) == ("provider_error", False)
    assert "Argument not supported: size" in exc.value.message


def test_it_edits_with_a_json_data_uri_image(http: responses.RequestsMock) -> None:
    http.post(EDITS, **reply("xai", "images_edit_success"))
    result = provider().edit(ImageRequest(prompt="Add a hat to this cat.", aspect_ratio="1:1",
                                          input_images=((PNG, "image/png"),)))
    expected = dict(fixture("xai", "images_edit_success")["request"]["json"], n=1)
    assert sent_json(http.calls[0]) == expected
    assert http.calls[0].request.headers["Content-Type"] == "application/json"
    assert result.warnings == ["xAI takes an aspect ratio only for multi-image edits; "
                               "dropped aspect_ratio=1:1."]


def test_it_edits_with_several_references_and_an_aspect_ratio(http: responses.RequestsMock) -> None:
    http.post(EDITS, **reply("xai", "images_edit_success"))
    provider().edit(ImageRequest(prompt="<IMAGE_0> meets <IMAGE_1>", aspect_ratio="16:9",
                                 input_images=((PNG, "image/png"), (JPEG, "image/jpeg"))))
    body = sent_json(http.calls[0])
    assert body["images"] == [{"url": f"data:image/png;base64,{B64_PNG}"},
                              {"url": f"data:image/jpeg;base64,{base64.b64encode(JPEG).decode()}"}]
    assert body["aspect_ratio"] == "16:9" and "image" not in body


def test_it_validates_the_key_with_the_api_key_endpoint(http: responses.RequestsMock) -> None:
    http.get("https://api.x.ai/v1/api-key", **reply("xai", "api_key_info_success"))
    assert provider().validate_key() == {"name": "My API Key"}
    assert http.calls[0].request.headers["Authorization"] == "Bearer xai-test"


def test_it_reports_a_blocked_key_as_provider_auth_failed(http: responses.RequestsMock) -> None:
    info = dict(fixture("xai", "api_key_info_success")["json"], api_key_blocked=True)
    http.get("https://api.x.ai/v1/api-key", json=info)
    with pytest.raises(ProviderError) as exc:
        provider().validate_key()
    assert exc.value.code == "provider_auth_failed"


def test_it_lists_image_generation_models(http: responses.RequestsMock) -> None:
    http.get("https://api.x.ai/v1/image-generation-models",
             json={"models": [{"id": "grok-imagine-image"}, {"id": "grok-imagine-image-quality"}]})
    assert provider().list_models() == ["grok-imagine-image", "grok-imagine-image-quality"]
