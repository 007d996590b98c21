"""API keys, image profiles and API tokens: the writes and provider calls behind Settings and the API.

Pages and viewsets only parse input and call these. Every function takes the acting user (`owner`) and only ever
touches that user's rows; foreign keys in the input (an API key id) are looked up inside the owner's rows, so
another user's id is "not found", never "forbidden" (SECURITY.md T1, T3).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from imagegen_site import http
from images.providers import DEFAULT_PROVIDER, PROVIDERS, Capabilities, ProviderError, get_provider, get_provider_class

from .auth import hash_token, new_token
from .crypto import KeyDecryptError
from .models import ApiKey, ApiToken, ImageProfile

logger = logging.getLogger(__name__)

MAX_KEY_CHARS = 512
MAX_NEGATIVE_PROMPT_CHARS = 2000


UNCHANGED = object()  # "keep what is there" for optional arguments of the save services


class ProfileError(Exception):
    """Invalid input or a refused operation; nothing was saved. `fields` names what to fix."""

    def __init__(self, message: str, *, code: str = "validation_error", fields: dict | None = None,
                 status: int = 400) -> None:
        super().__init__(message)
        self.message, self.code, self.fields, self.status = message, code, fields or {}, status


def provider_label(kind: str) -> str:
    return PROVIDERS[kind][0] if kind in PROVIDERS else kind


def key_providers() -> list[tuple[str, str]]:
    """Providers a user can store a key for: every registered one but the built-in renderer."""
    return [(kind, label) for kind, (label, _) in PROVIDERS.items() if kind != DEFAULT_PROVIDER]


# For the OpenAPI enum's name (SPECTACULAR_SETTINGS); forms and serializers call key_providers().
KEY_PROVIDER_CHOICES = key_providers()


def _check_provider(kind: str, *, field_name: str = "provider") -> None:
    if kind not in PROVIDERS:
        raise ProfileError(f"Unknown provider {kind!r}.", fields={field_name: "unknown provider"})


# --- API keys ---------------------------------------------------------------------------------------------------


@sensitive_variables("secret")
def api_key_create(*, owner, provider: str, secret: str, label: str = "") -> ApiKey:
    _check_provider(provider)
    if provider == DEFAULT_PROVIDER:
        raise ProfileError("The offline renderer needs no key.", fields={"provider": "needs no key"})
    secret = (secret or "").strip()
    if not secret:
        raise ProfileError("Paste the key.", fields={"key": "required"})
    if len(secret) > MAX_KEY_CHARS or any(c.isspace() for c in secret):
        raise ProfileError(f"That does not look like an API key (no spaces, at most {MAX_KEY_CHARS} characters).",
                           fields={"key": "invalid"})
    key = ApiKey(owner=owner, provider=provider, label=(label or "").strip()[:100])
    key.set_secret(secret)
    key.save()
    logger.info("api key %s added user=%s provider=%s", key.pk, owner.pk, provider)
    return key


@dataclass
class KeyCheck:
    """The outcome of asking the provider about a key. `valid` None: the provider offers no check."""

    valid: bool | None
    message: str
    code: str = ""
    models: list[str] = field(default_factory=list)


@sensitive_variables("secret")
def check_key(*, provider: str, secret: str | None, base_url: str | None = None,
              started: float | None = None) -> KeyCheck:
    """Call the provider's cheapest documented endpoint with this key; never raises for a provider failure.
    `started`: when the check began (time.monotonic()), if earlier than this call (check_key_at)."""
    started = time.monotonic() if started is None else started
    _check_provider(provider)
    try:
        client = get_provider(provider, api_key=secret, base_url=base_url)
        info = client.validate_key()
    except ProviderError as e:
        if e.code == "unsupported_provider":
            return KeyCheck(valid=None, message="Validation is not available for this provider.", code=e.code)
        if e.code in ("provider_auth_failed", "missing_api_key"):
            return KeyCheck(valid=False, message="The provider rejected this key.", code=e.code)
        # Not the key's fault (timeout, outage, refused address): one answer for all, and the key is not marked.
        return connection_failed(f"{e.code}: {e.message}", started)
    models: list[str] = []
    try:
        models = client.list_models()
    except ProviderError:
        pass  # the key works; the listing is a bonus
    count = info.get("models") if isinstance(info, dict) else None
    return KeyCheck(valid=True, message="The key is valid." + (f" {count} models available." if count else ""),
                    models=models)


# T22: a check that did not reach a key verdict says the same thing whether the address was refused by the outbound
# rules, the port was closed, the server broke or was too slow, so "test connection" cannot be used to map a network
# it must not reach (a blind oracle). The real reason goes to the server log only.
CONNECTION_FAILED_MESSAGE = ("Could not reach the provider to check the key. Check the server address, or try again "
                             "later.")


# T22, timing: the same words are not enough when a refused address answers at once and a silent one after the
# connect deadline. Every failed check answers no sooner than this after it started (a successful one is never
# slowed), so the two look alike. Module-level so tests set it to 0 (tests/conftest.py) and patch it to measure.
CONNECTION_FAILED_MIN_SECONDS = http.CONNECT_TIMEOUT


def answer_no_sooner(started: float) -> None:
    """Sleep for what is left of CONNECTION_FAILED_MIN_SECONDS since `started` (a time.monotonic() reading)."""
    remaining = CONNECTION_FAILED_MIN_SECONDS - (time.monotonic() - started)
    if remaining > 0:
        time.sleep(remaining)


def connection_failed(reason: str, started: float) -> KeyCheck:
    logger.info("key check: connection failed (%s)", reason)
    answer_no_sooner(started)
    return KeyCheck(valid=None, message=CONNECTION_FAILED_MESSAGE, code="connection_failed")


@sensitive_variables("secret")
def check_key_at(*, provider: str, secret: str | None, base_url: str) -> KeyCheck:
    """check_key against an address typed into the form. A wrong *kind* of input (this provider takes no address)
    is still a 400; an address the outbound rules refuse or cannot resolve answers as a failed connection (T22)."""
    started = time.monotonic()  # resolving the typed name is part of the check, and of its time
    clean, refused = typed_address(provider, base_url)
    if refused:
        return connection_failed(refused, started)
    return check_key(provider=provider, secret=secret, base_url=clean, started=started)


def typed_address(provider: str, base_url: str) -> tuple[str, str]:
    """(the cleaned address, "") or ("", why it cannot be called). A wrong *kind* of input (this provider takes no
    address, or needs one) still raises ProfileError (a 400); a refused or unresolvable address is only a reason,
    which callers answer as a failed connection like any other (T22)."""
    try:
        return clean_base_url(provider, base_url), ""
    except ProfileError as e:
        if e.fields.get("base_url") in ("required", "not for this provider"):
            raise
        return "", f"{e.code}: {e.message}"


def api_key_validate(*, api_key: ApiKey) -> KeyCheck:
    try:
        secret = api_key.get_secret()
    except KeyDecryptError:
        outcome = KeyCheck(valid=False, message="The stored key cannot be decrypted; delete it and add it again.",
                           code="key_invalid")
    else:
        base_url = (
            ImageProfile.objects.filter(api_key=api_key).exclude(base_url="").values_list("base_url", flat=True).first()
        )
        outcome = check_key(provider=api_key.provider, secret=secret, base_url=base_url)
    if outcome.valid is not None:
        api_key.validation_status = ApiKey.Status.VALID if outcome.valid else ApiKey.Status.INVALID
        api_key.last_validated = timezone.now()
        api_key.save(update_fields=["validation_status", "last_validated"])
    return outcome


def owned_api_key(owner, key_id, *, field_name: str = "api_key") -> ApiKey:
    try:
        return ApiKey.objects.for_user(owner).get(pk=int(key_id))
    except (ApiKey.DoesNotExist, TypeError, ValueError):
        raise ProfileError("No such API key.", code="not_found", fields={field_name: "not found"}, status=404) from None


# --- Models and parameters -------------------------------------------------------------------------------------


def provider_models(*, provider: str, api_key: ApiKey | None = None, base_url: str | None = None) -> tuple[list[str], bool]:
    """The provider's models: fetched live with the key (or the self-hosted server), else the built-in list.
    Returns (models, live)."""
    _check_provider(provider)
    cls = get_provider_class(provider)
    built_in = list(cls.capabilities.models)
    secret = None
    if api_key is not None:
        try:
            secret = api_key.get_secret()
        except KeyDecryptError:
            return built_in, False
    if cls.capabilities.needs_key and not secret:
        return built_in, False
    if cls.capabilities.needs_base_url and not base_url:
        return built_in, False
    try:
        live = get_provider(provider, api_key=secret, base_url=base_url or None).list_models()
    except ProviderError:
        return built_in, False
    return (live or built_in), bool(live)


@dataclass
class ModelList:
    """The models for the profile form. `code`/`message` say why the list is the built-in one when a live list was
    asked of a server address and could not be had."""

    models: list[str]
    live: bool
    code: str = ""
    message: str = ""


MODELS_UNREACHABLE_MESSAGE = "Could not reach the server to list its models. Check the address, or try again later."


@sensitive_variables("secret")
def provider_models_at(*, provider: str, api_key: ApiKey | None, base_url: str) -> ModelList:
    """The models of a server at an address typed into the form (T22), answered like check_key_at: a wrong kind of
    input is still a 400, while an address the outbound rules refuse, a name that does not resolve, a closed port,
    a timeout or a broken answer all give the same `connection_failed` and the built-in list. The real reason goes
    to the server log only."""
    started = time.monotonic()
    _check_provider(provider)
    built_in = list(get_provider_class(provider).capabilities.models)

    def unreachable(reason: str) -> ModelList:
        logger.info("model listing: connection failed (%s)", reason)
        answer_no_sooner(started)
        return ModelList(built_in, False, code="connection_failed", message=MODELS_UNREACHABLE_MESSAGE)

    clean, refused = typed_address(provider, base_url)
    if refused:
        return unreachable(refused)
    secret = None
    if api_key is not None:
        try:
            secret = api_key.get_secret()
        except KeyDecryptError:
            return ModelList(built_in, False, code="key_invalid",
                             message="The stored key cannot be decrypted; delete it and add it again.")
    try:
        live = get_provider(provider, api_key=secret, base_url=clean).list_models()
    except ProviderError as e:
        if e.code in ("provider_auth_failed", "missing_api_key"):
            return ModelList(built_in, False, code=e.code, message="The server rejected this key.")
        return unreachable(f"{e.code}: {e.message}")
    return ModelList(live or built_in, bool(live))


def capabilities_for(provider: str, model: str) -> Capabilities:
    return get_provider_class(provider).capabilities_for(model)


def _int_param(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().lstrip("-").isdigit():
        raise ProfileError(f"{name} must be a whole number.", fields={name: "not a whole number"})
    number = int(value)
    if not low <= number <= high:
        raise ProfileError(f"{name} must be between {low} and {high}.", fields={name: f"{low}–{high}"})
    return number


def _number_param(name: str, value, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ProfileError(f"{name} must be a number.", fields={name: "not a number"}) from None
    if not low <= number <= high:  # NaN fails this too
        raise ProfileError(f"{name} must be between {low:g} and {high:g}.", fields={name: f"{low:g}–{high:g}"})
    return number


def clean_parameters(provider: str, model: str, parameters: dict | None) -> dict:
    """Keep only parameters this provider and model support, each within its range; anything else is an error
    that names the field (SECURITY.md T29: bounded before anything is queued)."""
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise ProfileError("parameters must be an object.", fields={"parameters": "not an object"})
    caps = capabilities_for(provider, model)
    choices = dict(caps.options)  # the provider's own options: name → allowed values, or → (low, high)
    ranges = {name: (low, high) for name, low, high in caps.int_options}
    clean: dict = {}
    unsupported: list[str] = []
    for name, value in parameters.items():
        if value in (None, ""):
            continue
        if name == "n":
            clean["n"] = _int_param("n", value, 1, caps.n_max)
        elif name == "aspect_ratio":
            if value not in caps.aspect_ratios:
                raise ProfileError(f"aspect_ratio must be one of {', '.join(caps.aspect_ratios)}.",
                                   fields={"aspect_ratio": list(caps.aspect_ratios)})
            clean["aspect_ratio"] = value
        elif name == "size":
            clean.update(_clean_size(caps, value))
        elif name == "quality":
            if value not in caps.qualities:
                if not caps.qualities:
                    unsupported.append(name)
                    continue
                raise ProfileError(f"quality must be one of {', '.join(caps.qualities)}.",
                                   fields={"quality": list(caps.qualities)})
            clean["quality"] = value
        elif name in ("style", "provider_style"):
            # Stored as provider_style: "style" in a generation's options means the app's style presets.
            if value not in caps.styles:
                if not caps.styles:
                    unsupported.append(name)
                    continue
                raise ProfileError(f"style must be one of {', '.join(caps.styles)}.",
                                   fields={name: list(caps.styles)})
            clean["provider_style"] = value
        elif name == "negative_prompt" and caps.negative_prompt:
            if not isinstance(value, str) or len(value) > MAX_NEGATIVE_PROMPT_CHARS:
                raise ProfileError(f"negative_prompt must be text of at most {MAX_NEGATIVE_PROMPT_CHARS} characters.",
                                   fields={"negative_prompt": "too long"})
            clean["negative_prompt"] = value.strip()
        elif name == "seed" and caps.seed:
            clean["seed"] = _int_param("seed", value, 0, 2**32 - 1)
        elif name == "steps" and caps.steps:
            clean["steps"] = _int_param("steps", value, 1, 150)
        elif name == "guidance" and caps.guidance:
            clean["guidance"] = _number_param("guidance", value, 0, 30)
        elif name == "strength" and caps.strength:
            clean["strength"] = _number_param("strength", value, 0.01, 1)
        elif name in choices:
            if value not in choices[name]:
                raise ProfileError(f"{name} must be one of {', '.join(choices[name])}.",
                                   fields={name: list(choices[name])})
            clean[name] = value
        elif name in ranges:
            clean[name] = _int_param(name, value, *ranges[name])
        else:
            unsupported.append(name)
    if unsupported:
        names = ", ".join(sorted(unsupported))
        raise ProfileError(f"{provider_label(provider)} does not support: {names}.",
                           fields={"parameters": {name: "not supported" for name in unsupported}})
    # Whoever declares both options (OpenAI's GPT image models, OpenRouter) is answered 400 for this pair: a JPEG
    # has no transparency. Refused here rather than saved and failing (or silently dropped) at every image.
    if clean.get("background") == "transparent" and clean.get("output_format") == "jpeg":
        raise ProfileError("A transparent background needs png or webp output; JPEG cannot be transparent.",
                           fields={"background": "transparent needs png or webp",
                                   "output_format": "jpeg cannot be transparent"})
    return clean


def _clean_size(caps: Capabilities, value) -> dict:
    text = str(value).lower().replace("×", "x")
    if caps.sizes and text not in caps.sizes:
        raise ProfileError(f"size must be one of {', '.join(caps.sizes)}.", fields={"size": list(caps.sizes)})
    try:
        width, height = (int(part) for part in text.split("x"))
    except ValueError:
        raise ProfileError("size must look like 1024x1024.", fields={"size": "WIDTHxHEIGHT"}) from None
    if not (64 <= width <= caps.max_side and 64 <= height <= caps.max_side):
        raise ProfileError(f"Each side must be between 64 and {caps.max_side} pixels.", fields={"size": "out of range"})
    return {"size": text, "width": width, "height": height}


def parameter_schema(provider: str, model: str = "") -> dict:
    """What a profile of this provider may set, in JSON-schema terms (drives the API docs and the form)."""
    caps = capabilities_for(provider, model or get_provider_class(provider).capabilities.default_model)
    schema: dict = {"n": {"type": "integer", "minimum": 1, "maximum": caps.n_max}}
    if caps.aspect_ratios:
        schema["aspect_ratio"] = {"type": "string", "enum": list(caps.aspect_ratios)}
    if caps.sizes:
        schema["size"] = {"type": "string", "enum": list(caps.sizes)}
    if caps.qualities:
        schema["quality"] = {"type": "string", "enum": list(caps.qualities)}
    if caps.styles:
        schema["provider_style"] = {"type": "string", "enum": list(caps.styles)}
    if caps.negative_prompt:
        schema["negative_prompt"] = {"type": "string", "maxLength": MAX_NEGATIVE_PROMPT_CHARS}
    if caps.seed:
        schema["seed"] = {"type": "integer", "minimum": 0, "maximum": 2**32 - 1}
    if caps.steps:
        schema["steps"] = {"type": "integer", "minimum": 1, "maximum": 150}
    if caps.guidance:
        schema["guidance"] = {"type": "number", "minimum": 0, "maximum": 30}
    if caps.strength:  # edits only: how far from the source (AUTOMATIC1111's denoising_strength, ComfyUI's denoise)
        schema["strength"] = {"type": "number", "minimum": 0.01, "maximum": 1}
    for name, values in caps.options:  # the provider's own options (OpenRouter's output_format, background, …)
        schema[name] = {"type": "string", "enum": list(values)}
    for name, low, high in caps.int_options:
        schema[name] = {"type": "integer", "minimum": low, "maximum": high}
    return schema


def clean_base_url(provider: str, base_url: str) -> str:
    """Only self-hosted kinds take a base URL, and only an address the outbound rules allow (T16, T21)."""
    base_url = (base_url or "").strip()
    caps = get_provider_class(provider).capabilities
    if not caps.needs_base_url:
        if base_url:
            raise ProfileError(f"{provider_label(provider)} does not take a server address.",
                               fields={"base_url": "not for this provider"})
        return ""
    if not base_url:
        raise ProfileError(f"{provider_label(provider)} needs the address of your server.",
                           fields={"base_url": "required"})
    try:
        http.check_url(base_url)
    except ProviderError as e:
        raise ProfileError(e.message, code="url_forbidden" if e.code == "url_forbidden" else "validation_error",
                           fields={"base_url": e.message}) from None
    return base_url.rstrip("/")


# --- Image profiles --------------------------------------------------------------------------------------------


def image_profile_save(
    *,
    owner,
    profile: ImageProfile | None = None,
    name: str,
    provider: str,
    api_key_id=None,
    model: str = "",
    parameters: dict | None = None,
    base_url: str = "",
    is_default: bool = False,
    fallback_id=UNCHANGED,
) -> ImageProfile:
    """Create (profile None) or update one of the owner's profiles, after checking every field.
    `fallback_id`: another of the owner's profiles, None for none; left out, an existing profile keeps its own."""
    name = (name or "").strip()
    if not name:
        raise ProfileError("Give the profile a name.", fields={"name": "required"})
    if len(name) > 100:
        raise ProfileError("The name is too long (100 characters at most).", fields={"name": "too long"})
    _check_provider(provider)
    cls = get_provider_class(provider)
    if not cls.capabilities.generate:
        raise ProfileError(f"{cls.label} does not generate images.", code="unsupported_provider",
                           fields={"provider": "no image generation"})
    api_key = None
    if api_key_id not in (None, ""):
        api_key = owned_api_key(owner, api_key_id)
        if api_key.provider != provider:
            raise ProfileError(f"That key is for {provider_label(api_key.provider)}, not {cls.label}.",
                               fields={"api_key": "wrong provider"})
    model = (model or "").strip()[:200] or cls.capabilities.default_model
    clean = clean_parameters(provider, model, parameters)
    base_url = clean_base_url(provider, base_url)
    duplicate = ImageProfile.objects.for_user(owner).filter(name__iexact=name)
    if profile is not None:
        duplicate = duplicate.exclude(pk=profile.pk)
    if duplicate.exists():
        raise ProfileError(f"You already have a profile named {name!r}.", fields={"name": "already used"})
    if fallback_id is not UNCHANGED:
        fallback = check_fallback(owner, profile, fallback_id)
    else:
        fallback = profile.fallback if profile is not None else None
    target = profile or ImageProfile(owner=owner)
    target.fallback = fallback
    target.name, target.provider, target.api_key, target.model = name, provider, api_key, model
    target.parameters, target.base_url = clean, base_url
    try:
        with transaction.atomic():
            if is_default:
                ImageProfile.objects.for_user(owner).filter(is_default=True).exclude(pk=target.pk).update(is_default=False)
            target.is_default = bool(is_default)
            target.save()
    except IntegrityError:  # a concurrent save took the name or the default first
        raise ProfileError("Another change got there first; reload and try again.",
                           fields={"name": "conflict"}) from None
    return target


def check_fallback(owner, profile: ImageProfile | None, fallback_id) -> ImageProfile | None:
    """The fallback must be another of the owner's profiles, and following fallbacks must never come back here."""
    if fallback_id in (None, ""):
        return None
    try:
        fallback = ImageProfile.objects.for_user(owner).get(pk=int(fallback_id))
    except (ImageProfile.DoesNotExist, TypeError, ValueError):
        raise ProfileError("No such profile to fall back to.", code="not_found", fields={"fallback": "not found"},
                           status=404) from None
    if profile is not None and fallback.pk == profile.pk:
        raise ProfileError("A profile cannot be its own fallback.", fields={"fallback": "same profile"})
    seen, step = {fallback.pk}, fallback
    while step.fallback_id is not None:
        if profile is not None and step.fallback_id == profile.pk:
            raise ProfileError(f"{fallback.name} already falls back to {profile.name}; that would be a loop.",
                               fields={"fallback": "loop"})
        if step.fallback_id in seen:
            break  # an older loop among other profiles; the worker stops at the first repeat anyway
        seen.add(step.fallback_id)
        step = ImageProfile.objects.filter(pk=step.fallback_id, owner=owner).first()
        if step is None:
            break
    return fallback


def image_profile_set_default(*, profile: ImageProfile) -> ImageProfile:
    with transaction.atomic():
        ImageProfile.objects.for_user(profile.owner).filter(is_default=True).exclude(pk=profile.pk).update(is_default=False)
        ImageProfile.objects.filter(pk=profile.pk).update(is_default=True)
    profile.is_default = True
    return profile


def chat_set_profile(*, chat, profile_id) -> None:
    """The chat's image profile: one of the chat owner's, or none (the default profile, then offline)."""
    profile = None
    if profile_id not in (None, ""):
        try:
            profile = ImageProfile.objects.for_user(chat.owner).get(pk=int(profile_id))
        except (ImageProfile.DoesNotExist, TypeError, ValueError):
            raise ProfileError("No such profile.", code="not_found", fields={"image_profile": "not found"},
                               status=404) from None
    chat.image_profile = profile
    chat.save(update_fields=["image_profile", "updated"])


# --- API tokens ------------------------------------------------------------------------------------------------


def api_token_create(*, owner, name: str) -> tuple[ApiToken, str]:
    """A new token; the plain value is returned once and never stored."""
    name = (name or "").strip()[:100] or "API token"
    raw = new_token()
    token = ApiToken.objects.create(owner=owner, name=name, key_hash=hash_token(raw), prefix=raw[:8])
    logger.info("api token %s created user=%s", token.pk, owner.pk)
    return token, raw
