"""OpenRouter image generation through chat completions: payloads in tests/fixtures/providers/openrouter
(providers.md §4 and the seed's image path)."""

from __future__ import annotations

import pytest
import responses
from responses import matchers

from images.providers.base import ImageRequest, ProviderError
from images.providers.openrouter import NO_IMAGES, OpenRouterProvider

from .support import B64_PNG, PNG, fixture, reply, sent_json

CHAT = "https://openrouter.ai/api/v1/chat/completions"


def provider() -> OpenRouterProvider:
    return OpenRouterProvider(api_key="sk-or-v1-test")


def test_it_offers_the_seeds_five_models_with_nano_banana_2_first() -> None:
    caps = OpenRouterProvider.capabilities
    assert caps.models == ("google/gemini-3.1-flash-image-preview", "google/gemini-2.5-flash-image",
                           "google/gemini-3-pro-image-preview", "openai/gpt-5-image-mini", "openai/gpt-5-image")
    assert caps.default_model == "google/gemini-3.1-flash-image-preview"


def test_it_sends_model_modalities_and_image_config(http: responses.RequestsMock) -> None:
    http.post(CHAT, **reply("openrouter", "chat_image_success"))
    result = provider().generate(ImageRequest(prompt="Generate a beautiful sunset over mountains",
                                              model="google/gemini-2.5-flash-image", aspect_ratio="16:9",
                                              extra={"image_size": "1k"}))
    call = http.calls[0]
    assert call.request.headers["Authorization"] == "Bearer sk-or-v1-test"
    assert call.request.headers["X-OpenRouter-Title"] == "imagegen"
    assert sent_json(call) == fixture("openrouter", "chat_image_success")["request"]["json"]
    assert result.images[0].data == PNG
    assert result.text == "I've generated a beautiful sunset image for you."
    assert result.request_id == "gen-1755000000-AbCdEfGhIjKlMnOpQrSt"
    assert result.usage["total_tokens"] == 1309


def test_it_uses_nano_banana_2_by_default_and_sends_the_seed_to_google_models(http: responses.RequestsMock) -> None:
    http.post(CHAT, **reply("openrouter", "chat_image_success"))
    result = provider().generate(ImageRequest(prompt="sunset", seed=42, aspect_ratio="1:8",
                                              extra={"image_size": "0.5K"}))
    assert sent_json(http.calls[0]) == {
        "model": "google/gemini-3.1-flash-image-preview", "messages": [{"role": "user", "content": "sunset"}],
        "modalities": ["image", "text"], "image_config": {"aspect_ratio": "1:8", "image_size": "0.5K"}, "seed": 42}
    assert result.images[0].seed == 42 and result.warnings == []


def test_it_asks_image_only_models_for_the_image_modality_and_drops_what_they_lack(
        http: responses.RequestsMock) -> None:
    http.post(CHAT, **reply("openrouter", "chat_image_success"))
    result = provider().generate(ImageRequest(prompt="sunset", model="black-forest-labs/flux.2-pro", seed=1, n=2,
                                              aspect_ratio="1:8", extra={"image_size": "0.5K"}))
    assert sent_json(http.calls[0]) == {
        "model": "black-forest-labs/flux.2-pro", "messages": [{"role": "user", "content": "sunset"}],
        "modalities": ["image"], "image_config": {"aspect_ratio": "9:16"}}
    text = " ".join(result.warnings)
    for said in ("no 1:8 aspect ratio; used 9:16", "image_size=0.5K", "seed=1", "asked for 2, made 1"):
        assert said in text


def test_it_returns_the_no_images_warning_when_the_model_only_talks(http: responses.RequestsMock) -> None:
    http.post(CHAT, json={"id": "gen-2", "choices": [{"finish_reason": "stop", "message": {
        "role": "assistant", "content": "I can't draw that, but here is a description."}}]})
    result = provider().generate(ImageRequest(prompt="sunset"))
    assert result.images == []
    assert result.warnings == [NO_IMAGES]
    assert result.text == "I can't draw that, but here is a description."


def test_it_maps_an_error_inside_a_200_body(http: responses.RequestsMock) -> None:
    http.post(CHAT, json={"error": {"code": 502, "message": "Provider returned error"}})
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="sunset"))
    assert (exc.value.code, exc.value.retryable, exc.value.status) == ("provider_error", True, 502)


def test_it_maps_a_reply_without_choices_to_empty_response(http: responses.RequestsMock) -> None:
    http.post(CHAT, json={"id": "gen-3", "choices": []})
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="sunset"))
    assert exc.value.code == "empty_response"


@pytest.mark.parametrize(("name", "code", "retryable", "text"), [
    ("error_401", "provider_auth_failed", False, "rejected the API key"),
    ("error_402_insufficient_credits", "provider_error", False, "Insufficient credits"),
    ("error_403_moderation", "content_policy", False, "flagged by moderation (violence)"),
    ("error_429_rate_limited", "provider_rate_limited", True, "Rate limit exceeded"),
])
def test_it_maps_openrouter_errors(name: str, code: str, retryable: bool, text: str,
                                   http: responses.RequestsMock) -> None:
    http.post(CHAT, **reply("openrouter", name))
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="sunset"))
    assert (exc.value.code, exc.value.retryable) == (code, retryable)
    assert text in exc.value.message
    if name == "error_429_rate_limited":
        assert exc.value.retry_after == 60.0


def test_it_edits_with_text_and_data_uri_image_parts(http: responses.RequestsMock) -> None:
    http.post(CHAT, **reply("openrouter", "chat_image_success"))
    provider().edit(ImageRequest(prompt="make it night", input_images=((PNG, "image/png"),)))
    assert sent_json(http.calls[0])["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "make it night"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{B64_PNG}"}}]}]


def test_it_validates_the_key_with_the_key_endpoint(http: responses.RequestsMock) -> None:
    http.get("https://openrouter.ai/api/v1/key", **reply("openrouter", "key_info_success"))
    info = provider().validate_key()
    assert info == {"limit": 100, "limit_remaining": 74.5, "usage": 25.5, "is_free_tier": False}
    assert http.calls[0].request.headers["Authorization"] == "Bearer sk-or-v1-test"


def test_it_discovers_image_models_with_output_modalities(http: responses.RequestsMock) -> None:
    listing = fixture("openrouter", "models_image_filter_success")["json"]
    listing["data"].append({"id": "some/text-model", "architecture": {"output_modalities": ["text"]}})
    http.get("https://openrouter.ai/api/v1/models", json=listing,
             match=[matchers.query_param_matcher({"output_modalities": "image"})])
    assert provider().list_models() == ["google/gemini-2.5-flash-image"]
    assert "Authorization" not in http.calls[0].request.headers  # a public listing: no key sent
