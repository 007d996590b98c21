"""Which chat model answers in a chat, and a client for it with the owner's own key."""

from __future__ import annotations

from images.providers.base import ProviderError
from profiles.models import ApiKey

from .llm import CHAT_PROVIDERS, ChatClient, ChatModelChoice, ChatProvider, build_client
from .models import Chat, ChatPreferences

OFF = "off"


def preferences_for(owner) -> ChatPreferences:
    prefs, _ = ChatPreferences.objects.get_or_create(owner=owner)
    return prefs


def resolve_chat_model(owner, chat: Chat | None = None) -> ChatModelChoice | None:
    """The chat's own choice, else the owner's default; None when no chat model is set (or the chat says off)."""
    prefs = ChatPreferences.objects.filter(owner=owner).first()
    kind, model = "", ""
    if chat is not None and chat.llm_provider:
        if chat.llm_provider == OFF:
            return None
        kind, model = chat.llm_provider, chat.llm_model
    elif prefs is not None:
        kind, model = prefs.llm_provider, prefs.llm_model
    provider = CHAT_PROVIDERS.get(kind)
    if provider is None:
        return None
    model = model or provider.default_model
    if not model:
        return None
    return ChatModelChoice(provider=provider, model=model, base_url=saved_address(provider, prefs))


def saved_address(provider, prefs: ChatPreferences | None) -> str:
    """The saved server address, for the self-hosted kinds only (Ollama, any OpenAI-compatible server: they take no
    key). A keyed provider always talks to its own API, so picking OpenAI in a chat never sends the OpenAI key to
    the Ollama address saved for another chat (T15)."""
    if provider.key_provider or prefs is None:
        return ""
    return prefs.llm_base_url or ""


def owner_key(owner, provider: ChatProvider) -> ApiKey | None:
    """The owner's newest key for this chat provider (None for keyless ones or when there is none)."""
    if not provider.key_provider:
        return None
    return ApiKey.objects.for_user(owner).filter(provider=provider.key_provider).order_by("-created").first()


def chat_client(owner, choice: ChatModelChoice) -> ChatClient:
    """A client with the owner's key for the provider (their newest one); ProviderError if it is missing."""
    api_key = None
    if choice.provider.key_provider:
        key = owner_key(owner, choice.provider)
        if key is None:
            raise ProviderError(f"{choice.provider.label} needs an API key: add one in Settings → API keys.",
                                code="missing_api_key")
        api_key = key.get_secret()
    return build_client(choice, api_key=api_key)


def cheap_model(choice: ChatModelChoice) -> ChatModelChoice:
    """The same provider's cheap model for prompt refinement (the seed's CHEAP_LLM), if it has one."""
    if choice.provider.cheap_model:
        return ChatModelChoice(provider=choice.provider, model=choice.provider.cheap_model, base_url=choice.base_url)
    return choice
