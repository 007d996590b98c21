"""Which chat models the person's provider has, for the model pickers' <datalist> (free text stays allowed).

The list comes from the provider's own listing with the person's own key, cached per (person, provider, key,
server address) in the default cache for ten minutes. Anything that goes wrong (no answer, a refused or private
address, a rejected key, a broken body, the key-check rate limit) gives the same neutral note and the provider's
known default and cheap models, so the picker cannot be used to map a network (SECURITY.md T22); the real reason
goes to the server log only.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Callable

from django.core.cache import cache

from images.providers.base import ProviderError
from profiles.crypto import KeyDecryptError

from .chat_model import OFF, owner_key, saved_address
from .llm import CHAT_PROVIDERS, ChatModelChoice, ChatProvider, build_client
from .models import ChatPreferences

logger = logging.getLogger(__name__)

CACHE_SECONDS = 600
MAX_MODELS = 500  # a datalist longer than this helps nobody (OpenRouter lists ~300)
MAX_ADDRESS_CHARS = 200  # ChatPreferences.llm_base_url's length
UNLISTED_NOTE = "Could not list models; type a name."


@dataclass(frozen=True)
class ChatModelList:
    models: list[str] = field(default_factory=list)
    live: bool = False  # from the provider's own listing
    note: str = ""


def known_models(provider: ChatProvider) -> list[str]:
    """The models we know without asking: the provider's default and cheap ones."""
    return list(dict.fromkeys(m for m in (provider.default_model, provider.cheap_model) if m))


def listing_choice(owner, kind: str, *, typed_base_url: str = "") -> ChatModelChoice | None:
    """The provider and address a listing asks, as the chat would call them (chat_model.resolve_chat_model): blank
    is the person's saved default, "off" or unknown is nothing. An address typed into the settings form (not yet
    saved) is used only for keyless servers (Ollama, custom): a key only ever goes where the saved settings send it."""
    prefs = ChatPreferences.objects.filter(owner=owner).first()
    if not kind and prefs is not None:
        kind = prefs.llm_provider
    provider = CHAT_PROVIDERS.get(kind) if kind != OFF else None
    if provider is None:
        return None
    typed = (typed_base_url or "").strip()[:MAX_ADDRESS_CHARS]
    base_url = typed if typed and not provider.key_provider else saved_address(provider, prefs)
    return ChatModelChoice(provider=provider, model=provider.default_model, base_url=base_url)


def cache_key(owner, choice: ChatModelChoice, key_pk: int | None) -> str:
    # Per person and per key (the key's row, never its secret); the address is hashed to fit any cache's key rules.
    address = hashlib.sha256((choice.base_url or choice.provider.base_url).encode()).hexdigest()[:24]
    return f"chat-models:{owner.pk}:{choice.provider.kind}:{key_pk or 0}:{address}"


def chat_models(owner, choice: ChatModelChoice, *, may_call: Callable[[], bool]) -> ChatModelList:
    """The models for the picker. `may_call` is asked only before an outbound call (a cache hit is free) and
    counts it against the key-check rate limit; False answers the fallback."""
    provider = choice.provider
    fallback = known_models(provider)
    key = owner_key(owner, provider)
    if provider.key_provider and key is None:
        return ChatModelList(fallback, note=f"Add an API key for {provider.label} to see its models; or type a name.")
    key_name = cache_key(owner, choice, key.pk if key else None)
    cached = cache.get(key_name)
    if cached:
        return ChatModelList(cached, live=True)

    def unlisted(reason: str) -> ChatModelList:
        logger.info("chat model listing: failed user=%s provider=%s (%s)", owner.pk, provider.kind, reason)
        return ChatModelList(fallback, note=UNLISTED_NOTE)

    try:
        client = build_client(choice, api_key=key.get_secret() if key else None)
    except KeyDecryptError:
        return unlisted("stored key cannot be decrypted")
    except ProviderError as e:  # a custom server without an address: nothing to call
        return unlisted(f"{e.code}: {e.message}")
    if not may_call():
        return unlisted("rate limited")
    try:
        models = sorted(set(client.list_models()))[:MAX_MODELS]
    except ProviderError as e:
        return unlisted(f"{e.code}: {e.message}")
    except (AttributeError, KeyError, TypeError, ValueError) as e:  # a body of another shape: the same answer
        return unlisted(f"unexpected body ({type(e).__name__})")
    if not models:
        return unlisted("empty listing")
    cache.set(key_name, models, CACHE_SECONDS)
    return ChatModelList(models, live=True)
