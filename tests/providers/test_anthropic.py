"""Anthropic: listed, but Claude cannot make images (providers.md §8.2)."""

from __future__ import annotations

import pytest
import responses
from responses import matchers

from images.providers import get_provider
from images.providers.anthropic import AnthropicProvider
from images.providers.base import ImageRequest, ProviderError

from .support import reply

MODELS = "https://api.anthropic.com/v1/models"


def provider() -> AnthropicProvider:
    return AnthropicProvider(api_key="sk-ant-test")


def test_it_is_listed_but_declares_no_generation() -> None:
    caps = AnthropicProvider.capabilities
    assert (caps.generate, caps.edit, caps.needs_key) == (False, False, True)


@pytest.mark.parametrize("method", ["generate", "edit"])
def test_it_refuses_to_make_images_with_a_clear_message(method: str, http: responses.RequestsMock) -> None:
    with pytest.raises(ProviderError) as exc:
        getattr(get_provider("anthropic", api_key="sk-ant-test"), method)(ImageRequest(prompt="a cat"))
    assert exc.value.code == "unsupported_provider"
    assert "cannot create images" in exc.value.message
    assert len(http.calls) == 0


def test_it_validates_the_key_with_x_api_key_and_the_pinned_version(http: responses.RequestsMock) -> None:
    http.get(MODELS, match=[matchers.query_param_matcher({"limit": "1"})], **reply("anthropic", "models_list_success"))
    assert provider().validate_key() == {"models": 1}
    headers = http.calls[0].request.headers
    assert (headers["x-api-key"], headers["anthropic-version"]) == ("sk-ant-test", "2023-06-01")
    assert "Authorization" not in headers


def test_it_lists_models(http: responses.RequestsMock) -> None:
    http.get(MODELS, match=[matchers.query_param_matcher({"limit": "100"})],
             **reply("anthropic", "models_list_success"))
    assert provider().list_models() == ["claude-sonnet-4-5-20250929"]


@pytest.mark.parametrize(("name", "code", "retryable"), [
    ("error_401_authentication", "provider_auth_failed", False),
    ("error_429_rate_limit", "provider_rate_limited", True),
    ("error_529_overloaded", "provider_error", True),
])
def test_it_maps_key_check_errors(name: str, code: str, retryable: bool, http: responses.RequestsMock) -> None:
    http.get(MODELS, **reply("anthropic", name))
    with pytest.raises(ProviderError) as exc:
        provider().validate_key()
    assert (exc.value.code, exc.value.retryable) == (code, retryable)
    if name == "error_429_rate_limit":
        assert exc.value.retry_after == 12.0
