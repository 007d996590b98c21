"""The contract every image provider implements.

A provider turns a typed ImageRequest into HTTP calls and returns a typed ProviderResult. It knows nothing of
Django models, never reads settings or the database, and never logs a key: the caller passes the owner's
decrypted key in. It raises only ProviderError, whose `code` is one of the error taxonomy's codes (DESIGN.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

logger = logging.getLogger(__name__)

# Live progress while a provider works: (percent done 0-100 or None if unknown, a partial image's raw bytes or None).
# The bytes are untrusted provider output; the receiver sanitises them (images/previews.py).
ProgressCallback = Callable[[int | None, bytes | None], None]


# The taxonomy's codes a provider may raise, with the HTTP status the API answers for each.
ERROR_HTTP_STATUS = {
    "missing_prompt": 400,
    "validation_error": 400,
    "unsupported_provider": 400,
    "missing_api_key": 400,
    "url_forbidden": 400,
    "rate_limited": 429,  # our own limits (raised before a provider is called, listed so every API maps them alike)
    "quota_exceeded": 429,
    "content_policy": 422,
    "provider_auth_failed": 502,
    "provider_rate_limited": 503,
    "provider_error": 502,
    "empty_response": 502,
    "image_invalid": 502,
    "image_too_large": 502,
    "key_invalid": 400,
    "timeout": 504,
    "worker_lost": 500,
    "internal_error": 500,
}

# What a user should do about each failure; shown on error cards.
ERROR_HINTS = {
    "missing_api_key": "Add an API key for this provider in Settings → API keys.",
    "provider_auth_failed": "The provider rejected the API key. Check it in Settings → API keys.",
    "content_policy": "The provider refused this prompt. Rephrase it and try again.",
    "provider_rate_limited": "The provider is rate limiting you. Wait a moment and retry.",
    "timeout": "The provider took too long. Retry, or pick a faster model.",
    "provider_error": "The provider failed. Retry in a moment.",
    "empty_response": "The provider answered without an image. Retry or rephrase.",
    "image_invalid": "The provider returned something that is not a safe image. Retry.",
    "image_too_large": "The provider returned an image over the size limit (4096×4096). Pick a smaller size.",
    "key_invalid": "The stored API key can no longer be used. Add it again in Settings → API keys.",
    "worker_lost": "The worker stopped while making this image. Retry.",
    "unsupported_provider": "This provider can't do that. Pick another profile (--profile, or Settings → Image profiles).",
    "rate_limited": "You are sending images faster than this server allows. Wait a moment and send again.",
    "url_forbidden": "That address is not allowed. Ask the operator to allow it.",
    "quota_exceeded": "A usage limit is reached: the monthly budget starts again on the 1st, a daily image limit "
                      "at midnight. Settings → Usage shows where it went.",
}


class ProviderError(Exception):
    """A failure talking to a provider. `retryable` is True only for timeouts, 429 and 5xx."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "provider_error",
        retryable: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class Capabilities:
    """What a provider can do; forms, the API and the admin are driven by this."""

    generate: bool = True
    edit: bool = False
    # Edits only inside a painted area (a mask, ImageRequest.mask); implies edit.
    mask: bool = False
    n_max: int = 1
    sizes: tuple[str, ...] = ()  # "1024x1024"; empty means any width/height within max_side
    aspect_ratios: tuple[str, ...] = ("1:1",)
    qualities: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    default_model: str = ""
    negative_prompt: bool = False
    seed: bool = False
    steps: bool = False
    guidance: bool = False
    # An edit's denoising strength (profile parameter `strength`, 0.01–1: how far the edit may move from the source).
    strength: bool = False
    needs_key: bool = True
    needs_base_url: bool = False
    max_side: int = 4096
    # Provider-specific options a profile may set (the provider reads them from ImageRequest.extra): each a name with
    # its allowed values, e.g. ("output_format", ("png", "jpeg", "webp")), or with a whole-number range (low, high).
    # Checked by profiles.services.clean_parameters, shown on the profile form and in GET /api/providers/.
    options: tuple[tuple[str, tuple[str, ...]], ...] = ()
    int_options: tuple[tuple[str, int, int], ...] = ()


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    model: str = ""
    negative_prompt: str = ""
    n: int = 1
    width: int | None = None
    height: int | None = None
    aspect_ratio: str | None = None
    quality: str | None = None
    style: str | None = None
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    # Edits: the input images as (bytes, mime type), already sanitised by the caller.
    input_images: tuple[tuple[bytes, str], ...] = ()
    # An edit's painted area: an L-mode PNG the size of the first input image, 255 = change, 0 = keep
    # (images/masks.py). Each provider converts it to its own convention; None edits the whole image.
    mask: bytes | None = None
    # Provider-specific options that were validated against its capabilities.
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderImage:
    data: bytes
    mime_type: str
    seed: int | None = None
    revised_prompt: str | None = None


@dataclass
class ProviderResult:
    images: list[ProviderImage]
    model: str = ""
    text: str = ""  # any text the provider returned beside the image
    usage: dict = field(default_factory=dict)
    cost_usd: float | None = None
    request_id: str = ""
    # Options the provider could not honour and dropped, in plain words ("xAI has no style option; dropped
    # style=vivid"). Shown under the image and in the API; never silently lost.
    warnings: list[str] = field(default_factory=list)


class Provider:
    kind: ClassVar[str]
    label: ClassVar[str]
    capabilities: ClassVar[Capabilities] = Capabilities()
    # Shown beside the provider's images; only the offline renderer has one.
    disclaimer: ClassVar[str] = ""
    # One line for profile screens and the admin (e.g. "deprecated: use Gemini").
    description: ClassVar[str] = ""
    on_progress: ProgressCallback | None = None

    def __init__(self, *, api_key: str | None = None, base_url: str | None = None) -> None:
        self.api_key = api_key
        self.base_url = base_url
        # Set by the caller to receive live previews; providers that can stream progress call self.progress().
        self.on_progress: ProgressCallback | None = None

    def progress(self, percent: int | float | None, preview: bytes | None = None) -> None:
        """Report progress to on_progress, if anyone listens. A failing listener never fails the image."""
        if self.on_progress is None:
            return
        value = None if percent is None else max(0, min(100, int(percent)))
        try:
            self.on_progress(value, preview)
        except Exception:
            logger.exception("%s: the progress listener failed; generation continues", self.label)

    def generate(self, request: ImageRequest) -> ProviderResult:
        raise NotImplementedError

    def edit(self, request: ImageRequest) -> ProviderResult:
        raise ProviderError(f"{self.label} cannot edit images.", code="unsupported_provider")

    @classmethod
    def capabilities_for(cls, model: str) -> Capabilities:
        """What `model` can do; providers whose models differ (OpenAI, Stability) override this."""
        return cls.capabilities

    def validate_key(self) -> dict:
        """The cheapest documented call that proves the key (or server) works; returns a little account info,
        raises ProviderError (provider_auth_failed for a rejected key)."""
        raise ProviderError(f"{self.label} has no key check.", code="unsupported_provider")

    def list_models(self) -> list[str]:
        """Model ids the key or server can use, from the provider's own listing."""
        raise ProviderError(f"{self.label} cannot list models.", code="unsupported_provider")
