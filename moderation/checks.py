"""Checking a prompt before any provider call: the operator's blocklist, then (optionally) OpenAI's moderation.

Called by the worker before the refiner's chat model and before the image provider (images.services), and by the
modal's endpoint before its in-request refinement. A blocked prompt is `content_policy` with one generic message;
which rule matched goes to the admin (ModerationHit) and the log, never to the user.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from images.providers.base import ProviderError

from .models import BlockRule, ModerationHit

logger = logging.getLogger("imagegen.moderation")

BLOCKED_MESSAGE = "This prompt is not allowed on this site. Rephrase it and try again."
MODERATION_URL = "https://api.openai.com/v1/moderations"
MODERATION_MODEL = "omni-moderation-latest"
MODERATION_TIMEOUT_S = 15.0
PASS_CACHE_S = 600  # the modal checks in the request, then the worker checks again: one paid-for call is enough
TEXT_CHARS = 2000


@dataclass(frozen=True)
class Verdict:
    source: str  # ModerationHit.Source
    matched: str  # operator-facing: the rule's pattern or the flagged categories
    rule: BlockRule | None = None


class PromptBlocked(ProviderError):
    """A ProviderError, so the worker's one error path fails the job with content_policy (not retryable, and no
    fallback profile: another provider must not receive what this site refuses)."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(BLOCKED_MESSAGE, code="content_policy")
        self.verdict = verdict


def normalise(text: str) -> str:
    # NFKC folds full-width and other look-alike forms ("ｇｏｒｅ" → "gore") before matching.
    return unicodedata.normalize("NFKC", text or "")


def check_blocklist(text: str) -> Verdict | None:
    text = normalise(text)
    for rule in BlockRule.objects.filter(enabled=True):
        try:
            if rule.compiled().search(text):
                return Verdict("blocklist", f"{rule.kind}: {rule.pattern}"[:400], rule)
        except Exception:  # a broken rule saved around the admin's validation must not block everyone
            logger.exception("block rule %s cannot be used", rule.pk)
    return None


def openai_key_for(owner) -> str | None:
    from profiles.crypto import KeyDecryptError
    from profiles.models import ApiKey

    # Not a key picked by a profile with its own server address (Azure, a compatible proxy): that secret is for that
    # host only, never for api.openai.com.
    key = (ApiKey.objects.for_user(owner).filter(provider="openai")
           .exclude(imageprofile__base_url__gt="").order_by("-created").first())
    if key is None:
        return None
    try:
        return key.get_secret()
    except KeyDecryptError:
        return None


def check_openai(owner, text: str) -> Verdict | None:
    """OpenAI's moderation endpoint with the owner's own key; None when it passes, is off, or cannot answer (the
    blocklist still applied: a moderation outage must not stop every image)."""
    if not getattr(settings, "IMAGEGEN_MODERATION_API", True):
        return None
    secret = openai_key_for(owner)
    if not secret:
        return None
    digest = hashlib.sha256(f"{owner.pk}\0{text}".encode()).hexdigest()
    cache_key = f"moderation:pass:{digest}"
    if cache.get(cache_key):
        return None
    from imagegen_site import http

    try:
        resp = http.request("POST", MODERATION_URL, headers={"Authorization": f"Bearer {secret}"},
                            json={"model": MODERATION_MODEL, "input": text}, timeout_total=MODERATION_TIMEOUT_S)
        body = resp.json() if resp.ok else None
    except ProviderError as e:
        logger.warning("moderation call failed (%s); the blocklist alone applied", e.code)
        return None
    if not resp.ok or not isinstance(body, dict):
        logger.warning("moderation call answered HTTP %s; the blocklist alone applied", resp.status)
        return None
    results = body.get("results") or [{}]
    result = results[0] if isinstance(results[0], dict) else {}
    if result.get("flagged"):
        categories = sorted(k for k, v in (result.get("categories") or {}).items() if v)
        return Verdict("openai", ", ".join(categories)[:400] or "flagged")
    cache.set(cache_key, True, PASS_CACHE_S)
    return None


def check_prompt(owner, texts: list[str], *, generation=None, use_api: bool = True) -> None:
    """Raise PromptBlocked (recording the hit for the operator) if any of `texts` may not be sent."""
    texts = [t for t in (normalise(t).strip() for t in texts) if t]
    if not texts:
        return
    joined = "\n".join(dict.fromkeys(texts))  # the refined prompt often repeats the raw one
    verdict = check_blocklist(joined)
    if verdict is None and use_api:
        verdict = check_openai(owner, joined)
    if verdict is None:
        return
    ModerationHit.objects.create(owner=owner, generation=generation, source=verdict.source, rule=verdict.rule,
                                 matched=verdict.matched, text=joined[:TEXT_CHARS])
    # The operator's log names the rule; the prompt itself stays in the admin (ModerationHit), not in log files.
    logger.warning("prompt blocked user=%s generation=%s source=%s matched=%r", owner.pk,
                   getattr(generation, "pk", None), verdict.source, verdict.matched)
    raise PromptBlocked(verdict)


def check_generation(generation, *, only_used_prompt: bool = False) -> None:
    """The worker's check: the person's words and the prompt about to be sent, before any provider call (the
    refiner's chat model included). After a chat model rewrote the prompt, `only_used_prompt` checks its words."""
    texts = [generation.used_prompt] if only_used_prompt else [
        generation.prompt, generation.negative_prompt, generation.used_prompt]
    check_prompt(generation.owner, texts, generation=generation)
