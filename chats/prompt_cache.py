"""The prompt cache (seed 004): the same refinement request does not pay for the same LLM call twice.

A refinement is looked up by (owner, raw prompt, context digest, refiner model). The context digest covers every
input besides the prompt that shapes the answer: the context lines (summary, recent messages, memory), the style
preset, and the refiner's system prompt and sampling settings, so editing the template invalidates old rows. An
edit's instruction is refined by its own template, with the source picture's prompt in the digest too, so an edit
and a generation with the same words never share a row. Only
LLM answers are cached; the offline refiner is instant and free. Rows older than IMAGEGEN_PROMPT_CACHE_TTL_DAYS
(default 30; 0 turns the cache off) are refreshed by the next request rather than served.

Per owner: a refinement is made from the owner's chat context, so it is never handed to another user.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, F, Sum
from django.utils import timezone

from .llm import ChatModelChoice
from .models import PromptRefinement

DEFAULT_TTL_DAYS = 30


def _sha256(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()


def ttl() -> timedelta | None:
    days = getattr(settings, "IMAGEGEN_PROMPT_CACHE_TTL_DAYS", DEFAULT_TTL_DAYS)
    return timedelta(days=days) if days and days > 0 else None


def refiner_id(choice: ChatModelChoice) -> str:
    """Which model answers: provider kind and model, plus the server for self-hosted ones (same name, other model)."""
    ident = f"{choice.provider.kind}:{choice.model}"
    return f"{ident}@{choice.base_url}" if choice.base_url else ident


GENERATE, EDIT = "generate", "edit"


def context_digest(context: list[str] | tuple[str, ...], style_slug: str = "", *, mode: str = GENERATE,
                   source_prompt: str = "") -> str:
    from .refine import BETTER_CONTEXT_SYSTEM, EDIT_CONTEXT_SYSTEM, MAX_TOKENS, TEMPERATURE  # refine imports this

    if mode == EDIT:
        # An edit's own refiner, and the picture it edits: never the refinement of a generation with the same words.
        return _sha256(EDIT, EDIT_CONTEXT_SYSTEM, str(TEMPERATURE), str(MAX_TOKENS), style_slug or "", source_prompt,
                       *context)
    # Unchanged for generations, so the rows cached before edits were refined still match.
    return _sha256(BETTER_CONTEXT_SYSTEM, str(TEMPERATURE), str(MAX_TOKENS), style_slug or "", *context)


@dataclass(frozen=True)
class CacheKey:
    owner_id: int
    prompt: str
    digest: str
    refiner: str

    @property
    def value(self) -> str:
        return _sha256(str(self.owner_id), self.prompt, self.digest, self.refiner)


def key_for(owner, prompt: str, *, context, style_slug: str, choice: ChatModelChoice, mode: str = GENERATE,
            source_prompt: str = "") -> CacheKey:
    """`mode` EDIT: `prompt` is an edit instruction for the picture made from `source_prompt`."""
    digest = context_digest(list(context), style_slug, mode=mode, source_prompt=source_prompt)
    return CacheKey(owner.pk, prompt.strip(), digest, refiner_id(choice))


def lookup(key: CacheKey) -> str | None:
    """The cached refinement, counting the hit; None when absent, stale or the cache is off."""
    max_age = ttl()
    if max_age is None:
        return None
    row = PromptRefinement.objects.filter(key=key.value, refreshed__gte=timezone.now() - max_age).only("refined").first()
    if row is None:
        return None
    PromptRefinement.objects.filter(pk=row.pk).update(hits=F("hits") + 1, last_used=timezone.now())
    return row.refined


def store(key: CacheKey, refined: str) -> None:
    """Remember an LLM answer (a stale row is refreshed and its paid-call count goes up)."""
    if ttl() is None:
        return
    now = timezone.now()
    PromptRefinement.objects.update_or_create(
        key=key.value,
        defaults={"refined": refined, "refreshed": now, "last_used": now, "llm_calls": F("llm_calls") + 1},
        create_defaults={"owner_id": key.owner_id, "prompt": key.prompt, "context_digest": key.digest,
                         "refiner": key.refiner, "refined": refined, "llm_calls": 1},
    )


@dataclass(frozen=True)
class Totals:
    entries: int
    hits: int
    llm_calls: int

    @property
    def lookups(self) -> int:
        return self.hits + self.llm_calls

    @property
    def hit_rate(self) -> float | None:
        """Share of cacheable refinements answered from the cache; None before the first one."""
        return self.hits / self.lookups if self.lookups else None


def totals(owner=None) -> Totals:
    rows = PromptRefinement.objects.all() if owner is None else PromptRefinement.objects.filter(owner=owner)
    agg = rows.aggregate(entries=Count("pk"), hits=Sum("hits"), llm_calls=Sum("llm_calls"))
    return Totals(agg["entries"] or 0, agg["hits"] or 0, agg["llm_calls"] or 0)


def clear(owner) -> int:
    deleted, _ = PromptRefinement.objects.filter(owner=owner).delete()
    return deleted
