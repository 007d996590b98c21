"""Chat-model providers: which API family each speaks, where it lives, which key it uses, which models see images.

A chat model is chosen per chat, with a user default (chats.models.ChatPreferences). Keys are the user's own
ApiKey rows for the same provider name the image side uses; Ollama and custom servers take none.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.module_loading import import_string

from images.providers.base import ProviderError

from .base import ChatClient, ChatEvent, ChatRequest, ChatTurn, TextDelta, Tool, ToolCall


@dataclass(frozen=True)
class ChatProvider:
    kind: str
    label: str
    client: str  # dotted path of the ChatClient class
    base_url: str  # empty: the user gives one (custom servers)
    key_provider: str | None  # ApiKey.provider whose key is used; None: no key
    default_model: str
    # Refinement asks a cheap model (the seed's CHEAP_LLM); empty: the chat's own model.
    cheap_model: str = ""
    # Model-name prefixes that take image input (the seed's VISION_CAPABLE_MODELS, per provider).
    vision_prefixes: tuple[str, ...] = ()
    tools: bool = True

    def sees_images(self, model: str) -> bool:
        name = model.lower().split("/")[-1] if self.kind != "openrouter" else model.lower()
        return any(name.startswith(prefix) for prefix in self.vision_prefixes)


OPENAI_COMPATIBLE = "chats.llm.openai_compatible.OpenAICompatibleClient"
CHAT_PROVIDERS: dict[str, ChatProvider] = {
    p.kind: p
    for p in [
        ChatProvider("openai", "OpenAI", OPENAI_COMPATIBLE, "https://api.openai.com/v1", "openai", "gpt-4.1-mini",
                     cheap_model="gpt-4.1-nano", vision_prefixes=("gpt-4o", "gpt-4.1", "gpt-5", "o3", "o4")),
        ChatProvider("openrouter", "OpenRouter", OPENAI_COMPATIBLE, "https://openrouter.ai/api/v1", "openrouter",
                     "anthropic/claude-haiku-4.5", cheap_model="anthropic/claude-haiku-4.5",
                     vision_prefixes=("anthropic/claude", "openai/gpt-4o", "openai/gpt-4.1", "openai/gpt-5",
                                      "google/gemini", "x-ai/grok-4", "meta-llama/llama-4", "qwen/qwen2.5-vl",
                                      "qwen/qwen3-vl", "mistralai/pixtral")),
        ChatProvider("xai", "xAI Grok", OPENAI_COMPATIBLE, "https://api.x.ai/v1", "xai", "grok-4-fast",
                     vision_prefixes=("grok-4", "grok-2-vision")),
        ChatProvider("anthropic", "Anthropic Claude", "chats.llm.anthropic.AnthropicClient",
                     "https://api.anthropic.com/v1", "anthropic", "claude-haiku-4-5", cheap_model="claude-haiku-4-5",
                     vision_prefixes=("claude-",)),
        ChatProvider("gemini", "Google Gemini", "chats.llm.gemini.GeminiChatClient",
                     "https://generativelanguage.googleapis.com/v1beta", "gemini", "gemini-2.5-flash",
                     cheap_model="gemini-2.5-flash-lite", vision_prefixes=("gemini-",)),
        # Many local models have no tool support (Ollama answers 400), so plain-language requests use the rule.
        ChatProvider("ollama", "Ollama (self-hosted)", OPENAI_COMPATIBLE, "http://localhost:11434/v1", None,
                     "llama3.2", vision_prefixes=("qwen3-vl", "qwen2.5vl", "llava", "llama3.2-vision", "gemma3",
                                                  "minicpm-v", "granite3.2-vision"), tools=False),
        ChatProvider("custom", "OpenAI-compatible server", OPENAI_COMPATIBLE, "", None, "", tools=False),
    ]
}
CHAT_PROVIDER_CHOICES = [(p.kind, p.label) for p in CHAT_PROVIDERS.values()]


@dataclass(frozen=True)
class ChatModelChoice:
    provider: ChatProvider
    model: str
    base_url: str = ""

    @property
    def label(self) -> str:
        return f"{self.provider.label} · {self.model}"

    @property
    def sees_images(self) -> bool:
        return self.provider.sees_images(self.model)


def get_chat_provider(kind: str) -> ChatProvider:
    try:
        return CHAT_PROVIDERS[kind]
    except KeyError:
        raise ProviderError(f"Unknown chat provider {kind!r}.", code="unsupported_provider") from None


def build_client(choice: ChatModelChoice, *, api_key: str | None) -> ChatClient:
    provider = choice.provider
    if provider.key_provider and not api_key:
        raise ProviderError(f"{provider.label} needs an API key: add one in Settings → API keys.",
                            code="missing_api_key")
    base_url = choice.base_url or provider.base_url
    if not base_url:
        raise ProviderError(f"{provider.label} needs the address of your server.", code="validation_error")
    return import_string(provider.client)(api_key=api_key, base_url=base_url, label=provider.label)


__all__ = [
    "CHAT_PROVIDERS", "CHAT_PROVIDER_CHOICES", "ChatClient", "ChatEvent", "ChatModelChoice", "ChatProvider",
    "ChatRequest", "ChatTurn", "TextDelta", "Tool", "ToolCall", "build_client", "get_chat_provider",
]
