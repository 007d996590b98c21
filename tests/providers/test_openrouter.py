"""OpenRouter image generation: the dedicated Image API (POST /images) first, chat completions when it does not
serve the model. Payloads in tests/fixtures/providers/openrouter (providers.md §4 and the seed's image path)."""

from __future__ import annotations

import pytest
import responses
from responses import matchers

from images.providers.base import ImageRequest, ProviderError
from images.providers.openrouter import CHAT_ONLY, NO_IMAGES, OpenRouterProvider

from .support import B64_PNG, PNG, fixture, reply, sent_json

CHAT = "https://openrouter.ai/api/v1/chat/completions"
IMAGES = "https://openrouter.ai/api/v1/images"


def provider() -> OpenRouterProvider:
    return OpenRouterProvider(api_key="sk-or-v1-test")


@pytest.fixture(autouse=True)
def fresh_memo():
    """Each test starts with no model remembered as chat-only (images/providers/openrouter.CHAT_ONLY is per process)."""
    CHAT_ONLY.clear()
    yield
    CHAT_ONLY.clear()


def not_served(http: responses.RequestsMock) -> None:
    """The Image API's refusal of a model it does not serve: the provider falls back to chat completions."""
    http.post(IMAGES, **reply("openrouter", "images_model_not_served_404"))


def test_it_offers_the_seeds_five_models_with_nano_banana_2_first() -> None:
    caps = OpenRouterProvider.capabilities
    assert caps.models == ("google/gemini-3.1-flash-image-preview", "google/gemini-2.5-flash-image",
                           "google/gemini-3-pro-image-preview", "openai/gpt-5-image-mini", "openai/gpt-5-image")
    assert caps.default_model == "google/gemini-3.1-flash-image-preview"


def test_it_sends_model_modalities_and_image_config(http: responses.RequestsMock) -> None:
    not_served(http)
    http.post(CHAT, **reply("openrouter", "chat_image_success"))
    result = provider().generate(ImageRequest(prompt="Generate a beautiful sunset over mountains",
                                              model="google/gemini-2.5-flash-image", aspect_ratio="16:9",
                                              extra={"image_size": "1k"}))
    assert [c.request.url for c in http.calls] == [IMAGES, CHAT]  # one billed request: the 404 made nothing
    call = http.calls[1]
    assert call.request.headers["Authorization"] == "Bearer sk-or-v1-test"
    assert call.request.headers["X-OpenRouter-Title"] == "imagegen"
    assert sent_json(call) == fixture("openrouter", "chat_image_success")["request"]["json"]
    assert result.images[0].data == PNG
    assert result.text == "I've generated a beautiful sunset image for you."
    assert result.request_id == "gen-1755000000-AbCdEfGhIjKlMnOpQrSt"
    assert result.usage["total_tokens"] == 1309


def test_it_uses_nano_banana_2_by_default_and_sends_the_seed_to_google_models(http: responses.RequestsMock) -> None:
    not_served(http)
    http.post(CHAT, **reply("openrouter", "chat_image_success"))
    result = provider().generate(ImageRequest(prompt="sunset", seed=42, aspect_ratio="1:8",
                                              extra={"image_size": "0.5K"}))
    assert sent_json(http.calls[1]) == {
        "model": "google/gemini-3.1-flash-image-preview", "messages": [{"role": "user", "content": "sunset"}],
        "modalities": ["image", "text"], "image_config": {"aspect_ratio": "1:8", "image_size": "0.5K"}, "seed": 42}
    assert result.images[0].seed == 42 and result.warnings == []


def test_it_asks_image_only_models_for_the_image_modality_and_drops_what_they_lack(
        http: responses.RequestsMock) -> None:
    http.post(IMAGES, **reply("openrouter", "images_model_not_served_400"))  # a 400 that names the model
    http.post(CHAT, **reply("openrouter", "chat_image_success"))
    result = provider().generate(ImageRequest(prompt="sunset", model="black-forest-labs/flux.2-pro", seed=1, n=2,
                                              aspect_ratio="1:8", extra={"image_size": "0.5K"}))
    assert sent_json(http.calls[1]) == {
        "model": "black-forest-labs/flux.2-pro", "messages": [{"role": "user", "content": "sunset"}],
        "modalities": ["image"], "image_config": {"aspect_ratio": "9:16"}}
    text = " ".join(result.warnings)
    for said in ("no 1:8 aspect ratio; used 9:16", "image_size=0.5K", "seed=1", "asked for 2, made 1"):
        assert said in text


def test_it_returns_the_no_images_warning_when_the_model_only_talks(http: responses.RequestsMock) -> None:
    not_served(http)
    http.post(CHAT, json={"id": "gen-2", "choices": [{"finish_reason": "stop", "message": {
        "role": "assistant", "content": "I can't draw that, but here is a description."}}]})
    result = provider().generate(ImageRequest(prompt="sunset"))
    assert result.images == []
    assert result.warnings == [NO_IMAGES]
    assert result.text == "I can't draw that, but here is a description."


def test_it_maps_an_error_inside_a_chat_200_body(http: responses.RequestsMock) -> None:
    not_served(http)
    http.post(CHAT, json={"error": {"code": 502, "message": "Provider returned error"}})
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="sunset"))
    assert (exc.value.code, exc.value.retryable, exc.value.status) == ("provider_error", True, 502)


def test_it_maps_a_reply_without_choices_to_empty_response(http: responses.RequestsMock) -> None:
    not_served(http)
    http.post(CHAT, json={"id": "gen-3", "choices": []})
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="sunset"))
    assert exc.value.code == "empty_response"


@pytest.mark.parametrize(("name", "code", "retryable", "text"), [
    ("error_401", "provider_auth_failed", False, "rejected the API key"),
    ("error_402_insufficient_credits", "provider_error", False, "Insufficient credits"),
    ("error_403_moderation", "content_policy", False, "flagged by moderation (violence)"),
    ("error_429_rate_limited", "provider_rate_limited", True, "Rate limit exceeded"),
    ("images_error_502_failed", "provider_error", True, "Provider returned error"),
    ("images_error_400_invalid", "provider_error", False, "Invalid request parameters"),
])
def test_it_maps_openrouter_errors_without_trying_chat(name: str, code: str, retryable: bool, text: str,
                                                       http: responses.RequestsMock) -> None:
    http.post(IMAGES, **reply("openrouter", name))
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="sunset"))
    assert (exc.value.code, exc.value.retryable) == (code, retryable)
    assert text in exc.value.message
    assert len(http.calls) == 1  # no second (billed) request on the chat endpoint
    if name == "error_429_rate_limited":
        assert exc.value.retry_after == 60.0


def test_it_falls_back_to_chat_edits_with_text_and_data_uri_image_parts(http: responses.RequestsMock) -> None:
    not_served(http)
    http.post(CHAT, **reply("openrouter", "chat_image_success"))
    provider().edit(ImageRequest(prompt="make it night", model="google/gemini-2.5-flash-image",
                                 input_images=((PNG, "image/png"),)))
    assert sent_json(http.calls[0])["input_references"] == [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{B64_PNG}"}}]
    assert sent_json(http.calls[1])["messages"] == [{"role": "user", "content": [
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


def test_it_asks_the_image_api_first_with_ratio_and_resolution(http: responses.RequestsMock) -> None:
    http.post(IMAGES, **reply("openrouter", "images_api_success"))
    result = provider().generate(ImageRequest(prompt="a red panda astronaut floating in space, studio lighting",
                                              model="bytedance-seed/seedream-4.5", aspect_ratio="16:9",
                                              extra={"image_size": "2k"}))
    assert len(http.calls) == 1
    assert sent_json(http.calls[0]) == fixture("openrouter", "images_api_success")["request"]["json"]
    assert [i.data for i in result.images] == [PNG]
    assert result.model == "bytedance-seed/seedream-4.5" and result.warnings == [] and result.text == ""
    assert result.usage["completion_tokens"] == 4175
    assert result.cost_usd == 0.04  # usage.cost: what OpenRouter charged


def test_the_reported_cost_is_what_pricing_records(http: responses.RequestsMock) -> None:
    from images import pricing

    http.post(IMAGES, **reply("openrouter", "images_api_success"))
    result = provider().generate(ImageRequest(prompt="fox", model="google/gemini-2.5-flash-image"))
    cost = pricing.generation_cost(provider="openrouter", model="google/gemini-2.5-flash-image", parameters={},
                                   usage=result.usage, reported_usd=result.cost_usd, sizes=[(1, 1)])
    assert (str(cost.usd), cost.source) == ("0.0400", "provider")


def test_it_sends_n_size_quality_format_background_and_seed(http: responses.RequestsMock) -> None:
    http.post(IMAGES, **reply("openrouter", "images_api_two_images"))
    result = provider().generate(ImageRequest(prompt="two foxes in the snow", model="openai/gpt-5-image-mini", n=2,
                                              width=1536, height=1024, quality="high", seed=7,
                                              extra={"output_format": "webp", "background": "opaque"}))
    assert sent_json(http.calls[0]) == fixture("openrouter", "images_api_two_images")["request"]["json"]
    assert len(result.images) == 2 and all(i.data == PNG for i in result.images)
    assert [i.seed for i in result.images] == [None, None]  # one seed for the pair: not each image's own
    assert result.cost_usd == 0.0835 and result.warnings == []


def test_an_exact_size_is_sent_alone_and_conflicting_options_are_dropped_with_a_warning(
        http: responses.RequestsMock) -> None:
    http.post(IMAGES, **reply("openrouter", "images_api_success"))
    result = provider().generate(ImageRequest(prompt="fox", model="bytedance-seed/seedream-4.5", width=2048,
                                              height=2048, aspect_ratio="1:1", quality="ultra",
                                              extra={"image_size": "4K", "output_format": "svg"}))
    assert sent_json(http.calls[0]) == {"model": "bytedance-seed/seedream-4.5", "prompt": "fox", "size": "2048x2048"}
    text = " ".join(result.warnings)
    for said in ("dropped aspect_ratio=1:1", "dropped image_size=4K", "dropped quality=ultra",
                 "dropped output_format=svg"):
        assert said in text


def test_it_maps_the_half_k_size_to_the_512_resolution(http: responses.RequestsMock) -> None:
    http.post(IMAGES, **reply("openrouter", "images_api_success"))
    provider().generate(ImageRequest(prompt="fox", seed=3, quality="auto", extra={"image_size": "0.5K"}))
    assert sent_json(http.calls[0]) == {"model": "google/gemini-3.1-flash-image-preview", "prompt": "fox",
                                        "resolution": "512", "quality": "auto", "seed": 3}


def test_it_edits_through_the_image_api_with_input_references(http: responses.RequestsMock) -> None:
    http.post(IMAGES, **reply("openrouter", "images_api_success"))
    result = provider().edit(ImageRequest(prompt="make it night", model="bytedance-seed/seedream-4.5",
                                          input_images=((PNG, "image/png"),)))
    assert sent_json(http.calls[0]) == {
        "model": "bytedance-seed/seedream-4.5", "prompt": "make it night",
        "input_references": [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{B64_PNG}"}}]}
    assert len(http.calls) == 1 and result.images[0].data == PNG


def test_an_error_inside_an_image_api_200_is_a_retryable_provider_error(http: responses.RequestsMock) -> None:
    http.post(IMAGES, **reply("openrouter", "images_error_in_200"))
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="sunset"))
    assert (exc.value.code, exc.value.retryable, exc.value.status) == ("provider_error", True, 502)
    assert "Provider returned error" in exc.value.message
    assert len(http.calls) == 1


def test_an_image_api_reply_without_images_is_an_empty_response(http: responses.RequestsMock) -> None:
    http.post(IMAGES, json={"created": 1748372400, "data": [], "usage": {"cost": 0}})
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="sunset"))
    assert exc.value.code == "empty_response"


def test_a_chat_fallback_failure_is_the_error_raised(http: responses.RequestsMock) -> None:
    not_served(http)
    http.post(CHAT, **reply("openrouter", "error_402_insufficient_credits"))
    with pytest.raises(ProviderError) as exc:
        provider().generate(ImageRequest(prompt="sunset", model="google/gemini-2.5-flash-image"))
    assert (exc.value.code, exc.value.retryable, exc.value.status) == ("provider_error", False, 402)


def test_the_key_travels_only_in_the_authorization_header(http: responses.RequestsMock) -> None:
    not_served(http)
    http.post(CHAT, **reply("openrouter", "chat_image_success"))
    provider().edit(ImageRequest(prompt="night", model="google/gemini-2.5-flash-image", seed=1,
                                 input_images=((PNG, "image/png"),)))
    for call in http.calls:
        sent = call.request
        assert sent.headers["Authorization"] == "Bearer sk-or-v1-test"
        assert "sk-or-v1-test" not in sent.url and "sk-or-v1-test" not in sent.body.decode()
        assert not [k for k, v in sent.headers.items() if k != "Authorization" and "sk-or-v1-test" in str(v)]


def test_a_model_the_image_api_refused_goes_straight_to_chat_for_an_hour(http: responses.RequestsMock,
                                                                         monkeypatch) -> None:
    import images.providers.openrouter as openrouter

    clock = [1000.0]
    monkeypatch.setattr(openrouter.time, "monotonic", lambda: clock[0])
    not_served(http)
    http.post(CHAT, **reply("openrouter", "chat_image_success"))
    request = ImageRequest(prompt="a fox", model="google/gemini-2.5-flash-image")
    assert provider().generate(request).images
    assert provider().generate(request).images  # remembered: no second refused trip to /images
    assert [c.request.url for c in http.calls] == [IMAGES, CHAT, CHAT]
    clock[0] += openrouter.CHAT_ONLY_TTL_S  # an hour on, the Image API is asked again (it may serve it now)
    assert provider().generate(request).images
    assert [c.request.url for c in http.calls][-2:] == [IMAGES, CHAT]
