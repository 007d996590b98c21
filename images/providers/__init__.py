"""The provider registry: kind -> (label, dotted path), imported on first use (healthchecks' TRANSPORTS).

A new provider is one module in this package, one line here, and a test file.
"""

from django.utils.module_loading import import_string

from .base import Capabilities, ImageRequest, Provider, ProviderError, ProviderImage, ProviderResult

PROVIDERS: dict[str, tuple[str, str]] = {
    "offline": ("Offline sketch (built in)", "images.providers.offline.OfflineProvider"),
    "openai": ("OpenAI", "images.providers.openai.OpenAIProvider"),
    "xai": ("xAI Grok Imagine", "images.providers.xai.XAIProvider"),
    "gemini": ("Google Gemini", "images.providers.gemini.GeminiProvider"),
    "imagen": ("Google Imagen (deprecated)", "images.providers.imagen.ImagenProvider"),
    "openrouter": ("OpenRouter", "images.providers.openrouter.OpenRouterProvider"),
    "stability": ("Stability AI", "images.providers.stability.StabilityProvider"),
    "automatic1111": ("AUTOMATIC1111 (self-hosted)", "images.providers.automatic1111.Automatic1111Provider"),
    "comfyui": ("ComfyUI (self-hosted)", "images.providers.comfyui.ComfyUIProvider"),
    "anthropic": ("Anthropic (no image generation)", "images.providers.anthropic.AnthropicProvider"),
}

PROVIDER_CHOICES = [(kind, label) for kind, (label, _) in PROVIDERS.items()]
DEFAULT_PROVIDER = "offline"


def get_provider_class(kind: str) -> type[Provider]:
    try:
        return import_string(PROVIDERS[kind][1])
    except KeyError:
        raise ProviderError(f"Unknown provider {kind!r}.", code="unsupported_provider") from None


def get_provider(kind: str, *, api_key: str | None = None, base_url: str | None = None) -> Provider:
    cls = get_provider_class(kind)
    if cls.capabilities.needs_key and not api_key:
        raise ProviderError(
            f"{cls.label} needs an API key: add one in Settings → API keys.", code="missing_api_key"
        )
    if cls.capabilities.needs_base_url and not base_url:
        raise ProviderError(f"{cls.label} needs the address of your server.", code="validation_error")
    return cls(api_key=api_key, base_url=base_url)


__all__ = [
    "PROVIDERS",
    "PROVIDER_CHOICES",
    "DEFAULT_PROVIDER",
    "Capabilities",
    "ImageRequest",
    "Provider",
    "ProviderError",
    "ProviderImage",
    "ProviderResult",
    "get_provider",
    "get_provider_class",
]
