"""OpenAI Images: payloads recorded in tests/fixtures/providers/openai (providers.md §1)."""

from __future__ import annotations

import io
import logging

import pytest
import responses

from images.providers.base import ImageRequest, ProviderError
from images.providers.openai import OpenAIProvider

from .support import B64_PNG, PNG, EndlessBody, MiB, fixture, reply, sent_form, sent_json

GENERATIONS = "https://api.openai.com/v1/images/generations"
EDITS = "https://api.openai.com/v1/images/edits"
BLOB = fixture("openai", "images_generate_dalle3_url_success")["json"]["data"][0]["url"]


def provider() -> OpenAIProvider:
    return OpenAIProvider(api_key="sk-test")


def test_it_sends_prompt_key_and_gpt_image_options(http: responses.RequestsMock) -> None:
    http.post(GENERATIONS, **reply("openai", "images_generate_gpt_image_success"))
    result = provider().generate(ImageRequest(prompt="A cute baby sea otter", model="gpt-image-1.5",
                                              aspect_ratio="1:1", quality="high", extra={"output_format": "png"}))
    call = http.calls[0]
    assert call.request.headers["Authorization"] == "Bearer sk-test"
    assert sent_json(call) == fixture("openai", "images_generate_gpt_image_success")["request"]["json"]
    assert result.images[0].data == PNG and result.images[0].mime_type == "image/png"
    assert result.usage["total_tokens"] == 100
    assert result.request_id == "req_0f5e7c1d2a3b4c5d6e7f8a9b0c1d2e3f"
    assert result.warnings == []


def test_it_sends_only_model_prompt_and_n_when_nothing_else_is_asked(http: responses.RequestsMock) -> None:
    http.post(GENERATIONS, **reply("openai", "images_generate_gpt_image_success"))
    provider().generate(ImageRequest(prompt="otter"))
    assert sent_json(http.calls[0]) == {"model": "gpt-image-1.5", "prompt": "otter", "n": 1}


def test_it_maps_16_9_to_1536x1024_for_gpt_image_1_and_says_so(http: responses.RequestsMock) -> None:
    http.post(GENERATIONS, **reply("openai", "images_generate_gpt_image_success"))
    result = provider().generate(ImageRequest(prompt="otter", model="gpt-image-1", aspect_ratio="16:9", n=2,
                                              quality="hd"))
    assert sent_json(http.calls[0]) == {"model": "gpt-image-1", "prompt": "otter", "n": 2, "size": "1536x1024",
                                        "quality": "high"}
    assert result.warnings == ["OpenAI gpt-image-1 has no 16:9 size; used 1536x1024."]


def test_it_never_sends_response_format_to_gpt_image_models(http: responses.RequestsMock) -> None:
    http.post(GENERATIONS, **reply("openai", "images_generate_gpt_image_success"))
    provider().generate(ImageRequest(prompt="otter", model="gpt-image-1-mini", extra={"background": "transparent",
                                                                                       "moderation": "low"}))
    body = sent_json(http.calls[0])
    assert "response_format" not in body
    assert (body["background"], body["moderation"]) == ("transparent", "low")


def test_it_gives_gpt_image_2_a_free_size_within_its_limits(http: responses.RequestsMock) -> None:
    http.post(GENERATIONS, **reply("openai", "images_generate_gpt_image_success"))
    http.post(GENERATIONS, **reply("openai", "images_generate_gpt_image_success"))
    first = provider().generate(ImageRequest(prompt="otter", model="gpt-image-2", aspect_ratio="16:9"))
    second = provider().generate(ImageRequest(prompt="otter", model="gpt-image-2", width=4000, height=3000))
    assert sent_json(http.calls[0])["size"] == "1360x768" and first.warnings == []
    assert sent_json(http.calls[1])["size"] == "2880x2160"
    assert second.warnings == ["OpenAI gpt-image-2 has no 4000x3000 size; used 2880x2160."]


def test_it_sends_dalle3_size_quality_style_and_downloads_the_url_result(http: responses.RequestsMock) -> None:
    http.post(GENERATIONS, **reply("openai", "images_generate_dalle3_url_success"))
    http.get(BLOB, body=PNG, content_type="image/png")
    result = provider().generate(ImageRequest(prompt="A cute baby sea otter", model="dall-e-3", aspect_ratio="16:9",
                                              quality="hd", style="natural"))
    assert sent_json(http.calls[0]) == {"model": "dall-e-3", "prompt": "A cute baby sea otter", "n": 1,
                                        "size": "1792x1024", "quality": "hd", "style": "natural",
                                        "response_format": "b64_json"}
    assert "Authorization" not in http.calls[1].request.headers  # the key never goes to the storage host
    assert result.images[0].data == PNG
    assert result.images[0].revised_prompt.startswith("A small baby sea otter")
    assert result.request_id == "req_1a2b3c"


def test_it_drops_what_a_model_cannot_take_and_says_so(http: responses.RequestsMock) -> None:
    http.post(GENERATIONS, json={"created": 1, "data": [{"b64_json": B64_PNG}]})
    result = provider().generate(ImageRequest(prompt="otter", model="dall-e-3", n=3, negative_prompt="blur", seed=7,
                                              steps=30, guidance=6.5, quality="ultra", style="anime",
                                              extra={"background": "opaque"}))
    assert sent_json(http.calls[0]) == {"model": "dall-e-3", "prompt": "otter", "n": 1, "response_format": "b64_json"}
    text = " ".join(result.warnings)
    for dropped in ("negative_prompt='blur'", "seed=7", "steps=30", "guidance=6.5", "quality=ultra", "style=anime",
                    "background=opaque", "at most 1 image"):
        assert dropped in text


def test_it_refuses_url_results_from_hosts_that_are_not_openais(http: responses.RequestsMock) -> None:
    http.post(GENERATIONS, json={"created": 1, "data": [{"url": "https://evil.example.net/x.png"}]})
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="otter", model="dall-e-2"))
    assert exc.value.code == "url_forbidden"


@pytest.mark.parametrize("name", ["error_400_content_policy_dalle", "error_400_moderation_blocked_gpt_image"])
def test_it_maps_content_policy_violation_and_moderation_blocked_to_content_policy(
        name: str, http: responses.RequestsMock) -> None:
    http.post(GENERATIONS, **reply("openai", name))
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="bad"))
    assert (exc.value.code, exc.value.retryable) == ("content_policy", False)
    assert "safety system" in exc.value.message


def test_it_maps_401_to_provider_auth_failed_without_echoing_the_key(http: responses.RequestsMock,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    http.post(GENERATIONS, **reply("openai", "error_401_invalid_api_key"))
    with caplog.at_level(logging.DEBUG), pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="otter"))
    assert (exc.value.code, exc.value.retryable) == ("provider_auth_failed", False)
    assert "sk-test" not in str(exc.value)
    assert not any("sk-test" in r.getMessage() for r in caplog.records)


def test_it_maps_429_to_rate_limited_with_retry_after(http: responses.RequestsMock) -> None:
    http.post(GENERATIONS, **reply("openai", "error_429_rate_limit"))
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="otter"))
    assert (exc.value.code, exc.value.retryable, exc.value.retry_after) == ("provider_rate_limited", True, 20.0)


def test_it_treats_insufficient_quota_as_a_permanent_error(http: responses.RequestsMock) -> None:
    http.post(GENERATIONS, status=429, json={"error": {"message": "You exceeded your current quota",
                                                       "type": "insufficient_quota", "code": "insufficient_quota"}})
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="otter"))
    assert (exc.value.code, exc.value.retryable) == ("provider_error", False)


def test_it_maps_500_to_a_retryable_provider_error(http: responses.RequestsMock) -> None:
    http.post(GENERATIONS, **reply("openai", "error_500_server_error"))
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="otter"))
    assert (exc.value.code, exc.value.retryable) == ("provider_error", True)


def test_it_maps_an_answer_without_images_to_empty_response(http: responses.RequestsMock) -> None:
    http.post(GENERATIONS, json={"created": 1, "data": []})
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="otter"))
    assert exc.value.code == "empty_response"


def test_it_edits_with_a_multipart_image_list(http: responses.RequestsMock) -> None:
    http.post(EDITS, **reply("openai", "images_edit_multipart_success"))
    result = provider().edit(ImageRequest(prompt="Add a watercolor effect to this image", model="gpt-image-1.5",
                                          aspect_ratio="1:1", quality="high", input_images=((PNG, "image/png"),),
                                          extra={"moderation": "low"}))
    request = http.calls[0].request
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    assert sent_form(http.calls[0]) == {"model": "gpt-image-1.5", "prompt": "Add a watercolor effect to this image",
                                        "n": "1", "size": "1024x1024", "quality": "high"}
    assert b'name="image[]"; filename="image0.png"' in request.body and b"Content-Type: image/png" in request.body
    assert result.warnings == ["OpenAI gpt-image-1.5 edits take no moderation option; dropped moderation=low."]


@pytest.mark.parametrize("model", ["gpt-image-2", "gpt-image-1.5", "gpt-image-1", "gpt-image-1-mini"])
def test_it_sends_the_profiles_gpt_image_options_exactly(http: responses.RequestsMock, model: str) -> None:
    http.post(GENERATIONS, **reply("openai", "images_generate_gpt_image_success"))
    result = provider().generate(ImageRequest(prompt="otter", model=model, extra={
        "background": "opaque", "output_format": "webp", "output_compression": 70, "moderation": "low"}))
    assert sent_json(http.calls[0]) == {"model": model, "prompt": "otter", "n": 1, "background": "opaque",
                                        "output_format": "webp", "output_compression": 70, "moderation": "low"}
    assert result.warnings == []


def test_it_sends_the_gpt_image_output_options_as_edit_form_fields(http: responses.RequestsMock) -> None:
    http.post(EDITS, **reply("openai", "images_edit_multipart_success"))
    provider().edit(ImageRequest(prompt="hat", model="gpt-image-1", input_images=((PNG, "image/png"),), extra={
        "background": "transparent", "output_format": "png", "moderation": "auto"}))
    assert sent_form(http.calls[0]) == {"model": "gpt-image-1", "prompt": "hat", "n": "1",
                                        "background": "transparent", "output_format": "png"}


def test_it_edits_with_dalle2_as_a_single_image_field(http: responses.RequestsMock) -> None:
    http.post(EDITS, json={"created": 1, "data": [{"b64_json": B64_PNG}]})
    result = provider().edit(ImageRequest(prompt="hat", model="dall-e-2", input_images=((PNG, "image/png"),) * 2))
    assert b'name="image"; filename="image0.png"' in http.calls[0].request.body
    assert sent_form(http.calls[0])["response_format"] == "b64_json"
    assert "rest were dropped" in result.warnings[0]


def test_it_refuses_to_edit_with_dalle3() -> None:
    with pytest.raises(ProviderError) as exc:
        provider().edit(ImageRequest(prompt="hat", model="dall-e-3", input_images=((PNG, "image/png"),)))
    assert exc.value.code == "unsupported_provider"


def test_it_uses_a_custom_base_url_for_azure(http: responses.RequestsMock) -> None:
    root = "https://myres.openai.azure.com/openai/v1"
    http.post(f"{root}/images/generations", json={"created": 1, "data": [{"b64_json": B64_PNG}]})
    OpenAIProvider(api_key="az-key", base_url=root + "/").generate(ImageRequest(prompt="otter"))
    assert http.calls[0].request.headers["api-key"] == "az-key"
    assert http.calls[0].request.headers["Authorization"] == "Bearer az-key"


def test_it_validates_the_key_and_lists_image_models(http: responses.RequestsMock) -> None:
    http.get("https://api.openai.com/v1/models", **reply("openai", "models_list_success"))
    http.get("https://api.openai.com/v1/models", **reply("openai", "models_list_success"))
    assert provider().validate_key() == {"models": 2}
    assert provider().list_models() == ["gpt-image-1.5", "dall-e-3"]
    assert http.calls[0].request.headers["Authorization"] == "Bearer sk-test"


def test_it_reports_a_rejected_key_on_validation(http: responses.RequestsMock) -> None:
    http.get("https://api.openai.com/v1/models", **reply("openai", "error_401_invalid_api_key"))
    with pytest.raises(ProviderError) as exc:
        provider().validate_key()
    assert exc.value.code == "provider_auth_failed"


def test_it_drops_options_that_contradict_the_output_format(http: responses.RequestsMock) -> None:
    http.post(GENERATIONS, **reply("openai", "images_generate_gpt_image_success"))
    result = provider().generate(ImageRequest(prompt="otter", extra={
        "output_format": "jpeg", "background": "transparent", "output_compression": 80}))
    assert sent_json(http.calls[0]) == {"model": "gpt-image-1.5", "prompt": "otter", "n": 1, "output_format": "jpeg",
                                        "output_compression": 80}
    assert result.warnings == ["OpenAI gpt-image-1.5 cannot make a transparent JPEG; dropped background=transparent."]


def test_it_refuses_a_40_mib_reply_without_reading_it_all(http: responses.RequestsMock) -> None:
    body = EndlessBody(40 * MiB)
    http.post(GENERATIONS, body=io.BufferedReader(body), content_type="application/json")
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="otter"))
    assert exc.value.code == "provider_error" and "larger than 32 MiB" in exc.value.message
    assert body.served < 33 * MiB
