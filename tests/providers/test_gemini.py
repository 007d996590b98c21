"""Google Gemini native image output: payloads in tests/fixtures/providers/gemini (providers.md §3)."""

from __future__ import annotations

import base64

import pytest
import responses
from responses import matchers

from images.providers.base import ImageRequest, ProviderError
from images.providers.gemini import GeminiProvider

from .support import B64_PNG, PNG, fixture, reply, sent_json

ROOT = "https://generativelanguage.googleapis.com/v1beta"
FLASH = f"{ROOT}/models/gemini-2.5-flash-image:generateContent"
PRO = f"{ROOT}/models/gemini-3-pro-image-preview:generateContent"


def provider() -> GeminiProvider:
    return GeminiProvider(api_key="AIza-test")


def test_it_sends_prompt_key_header_and_aspect_ratio(http: responses.RequestsMock) -> None:
    http.post(FLASH, **reply("gemini", "generate_content_image_success"))
    result = provider().generate(ImageRequest(prompt="A photorealistic red apple on a table.", aspect_ratio="16:9"))
    call = http.calls[0]
    assert call.request.url == FLASH  # the key is a header, never a ?key= query string
    assert call.request.headers["x-goog-api-key"] == "AIza-test"
    assert sent_json(call) == fixture("gemini", "generate_content_image_success")["request"]["json"]
    assert result.images[0].data == PNG
    assert result.text == "Here is a photorealistic red apple on a wooden table."
    assert result.usage["totalTokenCount"] == 1314
    assert (result.request_id, result.model) == ("a1B2c3D4e5F6g7H8i9J0", "gemini-2.5-flash-image")


def test_it_sends_image_size_and_seed_to_gemini_3(http: responses.RequestsMock) -> None:
    http.post(PRO, **reply("gemini", "generate_content_image_success"))
    result = provider().generate(ImageRequest(prompt="apple", model="gemini-3-pro-image-preview", aspect_ratio="21:9",
                                              seed=42, extra={"image_size": "2k"}))
    assert sent_json(http.calls[0])["generationConfig"] == {
        "responseModalities": ["TEXT", "IMAGE"], "imageConfig": {"aspectRatio": "21:9", "imageSize": "2K"}, "seed": 42}
    assert result.images[0].seed == 42 and result.warnings == []


def test_it_sends_no_image_config_when_none_is_asked(http: responses.RequestsMock) -> None:
    http.post(FLASH, **reply("gemini", "generate_content_image_success"))
    provider().generate(ImageRequest(prompt="apple"))
    assert sent_json(http.calls[0])["generationConfig"] == {"responseModalities": ["TEXT", "IMAGE"]}


def test_it_drops_what_gemini_cannot_take_and_says_so(http: responses.RequestsMock) -> None:
    http.post(FLASH, **reply("gemini", "generate_content_image_success"))
    result = provider().generate(ImageRequest(prompt="apple", n=2, width=2000, height=1000, negative_prompt="pears",
                                              style="vivid", steps=20, extra={"image_size": "2K"}))
    assert sent_json(http.calls[0])["generationConfig"]["imageConfig"] == {"aspectRatio": "16:9"}  # 2:1 → nearest
    text = " ".join(result.warnings)
    for dropped in ("makes 1K images only; dropped image_size=2K", "size=2000x1000", "negative_prompt='pears'",
                    "style=vivid", "steps=20", "asked for 2, made 1"):
        assert dropped in text


def test_it_finds_images_in_any_part_order_and_skips_thought_parts(http: responses.RequestsMock) -> None:
    draft = base64.b64encode(b"\x89PNG\r\n\x1a\n draft").decode()
    urlsafe = base64.urlsafe_b64encode(PNG).decode().rstrip("=")
    http.post(FLASH, json={"candidates": [{"finishReason": "STOP", "content": {"parts": [
        {"thought": True, "inlineData": {"mimeType": "image/png", "data": draft}},
        {"thought": True, "text": "Planning the composition"},
        {"inline_data": {"mime_type": "image/png", "data": urlsafe}},
        {"text": "Two apples."},
        {"inlineData": {"mimeType": "image/png", "data": B64_PNG}, "thoughtSignature": "c2ln"},
    ]}}]})
    result = provider().generate(ImageRequest(prompt="apples"))
    assert [i.data for i in result.images] == [PNG, PNG]
    assert result.text == "Two apples."


def test_it_maps_a_prompt_block_reason_to_content_policy(http: responses.RequestsMock) -> None:
    http.post(FLASH, **reply("gemini", "generate_content_prompt_blocked"))
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="bad"))
    assert exc.value.code == "content_policy" and "PROHIBITED_CONTENT" in exc.value.message


def test_it_maps_an_image_safety_finish_to_content_policy(http: responses.RequestsMock) -> None:
    http.post(FLASH, **reply("gemini", "generate_content_no_image_finish"))
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="bad"))
    assert exc.value.code == "content_policy" and "IMAGE_SAFETY" in exc.value.message


@pytest.mark.parametrize("reason", ["NO_IMAGE", "IMAGE_OTHER", "STOP"])
def test_it_maps_a_finish_without_an_image_to_empty_response(reason: str, http: responses.RequestsMock) -> None:
    http.post(FLASH, json={"candidates": [{"finishReason": reason,
                                           "content": {"parts": [{"text": "I can only describe it."}]}}]})
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="apple"))
    assert exc.value.code == "empty_response"
    assert reason in exc.value.message and "I can only describe it." in exc.value.message


def test_it_maps_api_key_invalid_to_provider_auth_failed(http: responses.RequestsMock) -> None:
    http.post(FLASH, **reply("gemini", "error_400_api_key_invalid"))
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="apple"))
    assert (exc.value.code, exc.value.retryable) == ("provider_auth_failed", False)


def test_it_reads_retry_delay_from_a_resource_exhausted_429(http: responses.RequestsMock) -> None:
    http.post(FLASH, **reply("gemini", "error_429_resource_exhausted"))
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="apple"))
    assert (exc.value.code, exc.value.retryable, exc.value.retry_after) == ("provider_rate_limited", True, 59.0)
    assert "exceeded your current quota" in exc.value.message


def test_it_reads_the_one_element_list_error_envelope(http: responses.RequestsMock) -> None:
    http.post(FLASH, status=403, json=[{"error": {"code": 403, "message": "Permission denied.",
                                                  "status": "PERMISSION_DENIED"}}])
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="apple"))
    assert exc.value.code == "provider_auth_failed"


@pytest.mark.parametrize(("status", "retryable"), [(404, False), (500, True), (503, True)])
def test_it_maps_other_rpc_errors_to_provider_error(status: int, retryable: bool,
                                                    http: responses.RequestsMock) -> None:
    http.post(FLASH, status=status, json={"error": {"code": status, "message": "models/x is not found",
                                                    "status": "NOT_FOUND"}})
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="apple"))
    assert (exc.value.code, exc.value.retryable) == ("provider_error", retryable)


def test_it_edits_with_inline_data_after_the_text(http: responses.RequestsMock) -> None:
    http.post(FLASH, **reply("gemini", "generate_content_image_success"))
    provider().edit(ImageRequest(prompt="make it green", input_images=((PNG, "image/png"),)))
    assert sent_json(http.calls[0])["contents"] == [{"role": "user", "parts": [
        {"text": "make it green"}, {"inlineData": {"mimeType": "image/png", "data": B64_PNG}}]}]


def test_it_validates_the_key_with_one_model_and_lists_image_models(http: responses.RequestsMock) -> None:
    models = reply("gemini", "models_list_success")
    http.get(f"{ROOT}/models", match=[matchers.query_param_matcher({"pageSize": "1"})], **models)
    http.get(f"{ROOT}/models", match=[matchers.query_param_matcher({"pageSize": "1000"})],
             **reply("gemini", "models_list_success", json=dict(models["json"], nextPageToken=None)))
    assert provider().validate_key() == {"models": 2}
    assert provider().list_models() == ["gemini-2.5-flash-image"]
    assert all(c.request.headers["x-goog-api-key"] == "AIza-test" for c in http.calls)
