"""Stability AI Stable Image v2beta: payloads in tests/fixtures/providers/stability (providers.md §5)."""

from __future__ import annotations

import pytest
import responses

from images.providers.base import ImageRequest, ProviderError
from images.providers.stability import StabilityProvider

from .support import PNG, fixture, reply, sent_form

ROOT = "https://api.stability.ai/v2beta/stable-image/generate"


def provider() -> StabilityProvider:
    return StabilityProvider(api_key="sk-test")


def test_it_sends_multipart_fields_key_and_json_accept_to_core(http: responses.RequestsMock) -> None:
    http.post(f"{ROOT}/core", **reply("stability", "core_json_success"))
    result = provider().generate(ImageRequest(prompt="A lighthouse on a cliff at dawn", negative_prompt="blurry",
                                              aspect_ratio="16:9", seed=0, style="photographic",
                                              extra={"output_format": "png"}))
    request = http.calls[0].request
    assert request.headers["Authorization"] == "Bearer sk-test"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    assert sent_form(http.calls[0]) == fixture("stability", "core_raw_image_success")["request"]["form"]
    assert result.images[0].data == PNG and result.images[0].seed == 343940597
    assert result.request_id == "b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5" and result.warnings == []


def test_it_sends_multipart_even_with_no_file(http: responses.RequestsMock) -> None:
    http.post(f"{ROOT}/core", **reply("stability", "core_json_success"))
    provider().generate(ImageRequest(prompt="A lighthouse on a cliff at dawn"))
    assert sent_form(http.calls[0]) == {"prompt": "A lighthouse on a cliff at dawn"}
    assert b"filename=" not in http.calls[0].request.body


def test_it_reads_finish_reason_and_seed_headers_in_raw_image_mode(http: responses.RequestsMock) -> None:
    http.post(f"{ROOT}/core", **reply("stability", "core_raw_image_success"))
    result = provider().generate(ImageRequest(prompt="lighthouse"))
    assert result.images[0].seed == 343940597
    assert result.request_id == "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4"


def test_it_sends_the_sd3_model_and_cfg_scale_and_trusts_the_bytes_over_the_declared_type(
        http: responses.RequestsMock) -> None:
    http.post(f"{ROOT}/sd3", **reply("stability", "sd3_request_example"))
    result = provider().generate(ImageRequest(prompt="A lighthouse on a cliff at dawn", model="sd3.5-large",
                                              aspect_ratio="1:1", guidance=4, extra={"output_format": "jpeg"}))
    assert sent_form(http.calls[0]) == {"prompt": "A lighthouse on a cliff at dawn", "model": "sd3.5-large",
                                        "aspect_ratio": "1:1", "cfg_scale": "4", "output_format": "jpeg"}
    assert result.images[0].mime_type == "image/png"  # declared image/jpeg, but the bytes are a PNG
    assert result.images[0].seed == 42


def test_it_maps_a_content_filtered_200_to_content_policy(http: responses.RequestsMock) -> None:
    http.post(f"{ROOT}/ultra", **reply("stability", "ultra_content_filtered_json"))
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="...", model="ultra"))
    assert exc.value.code == "content_policy"


def test_it_drops_what_each_model_cannot_take_and_says_so(http: responses.RequestsMock) -> None:
    http.post(f"{ROOT}/sd3", **reply("stability", "core_json_success"))
    result = provider().generate(ImageRequest(prompt="x", model="sd3-large-turbo", negative_prompt="blur", n=2,
                                              steps=30, quality="hd", style="anime", seed=2**40,
                                              aspect_ratio="4:3", extra={"output_format": "webp"}))
    assert sent_form(http.calls[0]) == {"prompt": "x", "model": "sd3-large-turbo", "aspect_ratio": "5:4"}
    text = " ".join(result.warnings)
    for said in ("negative_prompt='blur'", "steps=30", "quality=hd", "style=anime", f"seed={2**40}",
                 "output_format=webp", "no 4:3 aspect ratio; used 5:4", "asked for 2, made 1"):
        assert said in text


@pytest.mark.parametrize(("name", "code", "retryable", "text"), [
    ("error_400_bad_request", "provider_error", False, "prompt: is required"),
    ("error_403_content_moderation", "content_policy", False, "flagged by our content moderation"),
    ("error_429_too_many_requests", "provider_rate_limited", True, "150 requests in 10 seconds"),
])
def test_it_maps_stability_errors(name: str, code: str, retryable: bool, text: str,
                                  http: responses.RequestsMock) -> None:
    http.post(f"{ROOT}/core", **reply("stability", name))
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="x"))
    assert (exc.value.code, exc.value.retryable) == (code, retryable)
    assert text in exc.value.message


@pytest.mark.parametrize(("status", "name", "code", "retryable"), [
    (401, "unauthorized", "provider_auth_failed", False),
    (402, "payment_required", "provider_error", False),
    (500, "internal_error", "provider_error", True),
])
def test_it_maps_auth_payment_and_server_errors(status: int, name: str, code: str, retryable: bool,
                                                http: responses.RequestsMock) -> None:
    http.post(f"{ROOT}/core", status=status, json={"id": "x", "name": name, "errors": ["nope"]})
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="x"))
    assert (exc.value.code, exc.value.retryable) == (code, retryable)


def test_it_edits_with_ultra_sending_the_image_and_strength(http: responses.RequestsMock) -> None:
    http.post(f"{ROOT}/ultra", **reply("stability", "core_json_success"))
    result = provider().edit(ImageRequest(prompt="snowy", model="ultra", aspect_ratio="16:9",
                                          input_images=((PNG, "image/png"),), extra={"strength": 0.4}))
    assert sent_form(http.calls[0]) == {"prompt": "snowy", "strength": "0.4"}
    assert b'name="image"; filename="image.png"' in http.calls[0].request.body
    assert "takes no aspect ratio when editing" in result.warnings[0]


def test_it_edits_with_sd3_in_image_to_image_mode(http: responses.RequestsMock) -> None:
    http.post(f"{ROOT}/sd3", **reply("stability", "core_json_success"))
    provider().edit(ImageRequest(prompt="snowy", model="sd3.5-medium", input_images=((PNG, "image/png"),)))
    assert sent_form(http.calls[0]) == {"prompt": "snowy", "model": "sd3.5-medium", "strength": "0.6",
                                        "mode": "image-to-image"}


def test_it_refuses_to_edit_with_core() -> None:
    with pytest.raises(ProviderError) as exc:
        provider().edit(ImageRequest(prompt="snowy", input_images=((PNG, "image/png"),)))
    assert exc.value.code == "unsupported_provider"


def test_it_validates_the_key_by_reading_the_balance(http: responses.RequestsMock) -> None:
    http.get("https://api.stability.ai/v1/user/balance", **reply("stability", "balance_success"))
    assert provider().validate_key() == {"credits": 0.41122252265928866}
    assert http.calls[0].request.headers["Authorization"] == "Bearer sk-test"


def test_it_reports_a_rejected_key_on_validation(http: responses.RequestsMock) -> None:
    http.get("https://api.stability.ai/v1/user/balance", **reply("stability", "error_401_v1_unauthorized"))
    with pytest.raises(ProviderError) as exc:
        provider().validate_key()
    assert exc.value.code == "provider_auth_failed"


def test_it_lists_the_documented_models() -> None:
    assert provider().list_models()[:3] == ["core", "ultra", "sd3.5-large"]
