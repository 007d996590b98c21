"""Several images from a model that makes fewer per call (dall-e-3, Gemini, OpenRouter: one): the calls run at once.

Why threads inside the one attempt rather than n sub-jobs: the Generation row stays the single unit the queue,
lease, cancel, retry, fallback and ledger already reason about (one claim, one lease, one fencing token, images and
final status in one transaction), and the work is waiting on HTTP, which threads do well. The pool is small and
bounded (at most MAX_PARALLEL calls for one job), so one job never takes more than its share of a provider's limits.

Each call's image is sanitised and its file stored as soon as it arrives (files are content-addressed, so a re-run
writes the same names); the rows are written with the final status by generation_run, as for a single call.

All-or-partial: every call made an image → succeeded. Some did → succeeded with the images that came and a warning
("3 of 4 images were made; 1 failed: …"). None did → the attempt fails with the most telling error (a non-retryable
one first, e.g. content_policy or a rejected key), which then retries or fails as any provider error does. Charged:
every call the provider answered, its images that we refused included (unsafe, too many: billed all the same); a call
that failed without an answer cost nothing. Cancel: after each arrival the row is checked; once it is canceled no further result is waited
for (calls already in flight cannot be recalled: their results are dropped and their files swept as orphans).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace

from django.db import connections

from . import imaging, previews
from .models import Generation
from .providers import ImageRequest, Provider, ProviderError, ProviderImage, ProviderResult, get_provider_class
from .storage import store_image

logger = logging.getLogger(__name__)

MAX_PARALLEL = 4  # n is at most 4, so every call of one request runs at once


def calls_for(generation: Generation, request: ImageRequest) -> list[int]:
    """How many images each call asks for; one entry means an ordinary single call (no fan-out)."""
    n_max = max(1, get_provider_class(generation.provider).capabilities_for(generation.model).n_max)
    n, sizes = max(1, request.n), []
    while n > 0:
        sizes.append(min(n, n_max))
        n -= sizes[-1]
    return sizes


@dataclass
class Call:
    index: int
    result: ProviderResult | None = None
    cleaned: list[imaging.CleanImage] = field(default_factory=list)
    names: list[tuple[str, str]] = field(default_factory=list)
    error: ProviderError | imaging.ImageInvalid | None = None


@dataclass
class FanOutResult:
    # The images kept, with the usage and cost of every answered call (what the provider billed).
    result: ProviderResult
    cleaned: list[imaging.CleanImage]
    names: list[tuple[str, str]]
    canceled: bool = False
    answered: bool = False  # some call got an answer: the provider charged, whatever became of its images
    refused: int = 0  # images answered but not kept (unsafe, more than asked): billed, priced unmeasured
    error: ProviderError | imaging.ImageInvalid | None = None  # the deciding error when no call made an image


def _one_call(generation: Generation, provider: Provider, request: ImageRequest, index: int) -> Call:
    call = Call(index)
    try:
        call.result = provider.edit(request) if request.input_images else provider.generate(request)
        images = call.result.images
        if not images:
            raise ProviderError("The provider answered without an image.", code="empty_response")
        if len(images) > request.n:  # more than asked for is a broken or hostile answer (SECURITY.md T28)
            raise ProviderError(f"The provider sent {len(images)} images for {request.n} asked.", code="provider_error")
        cleaned = [imaging.sanitize(image.data) for image in images]  # sanitised before anything is written
        call.names = [store_image(generation.owner_id, clean) for clean in cleaned]
        call.cleaned = cleaned
    except (ProviderError, imaging.ImageInvalid) as e:
        call.error = e
    finally:
        connections.close_all()  # nothing here should touch the database, but a thread must not leak a connection
    return call


def _seeded(request: ImageRequest, offset: int, size: int) -> ImageRequest:
    # A fixed seed gives each call its own (seed, seed+1, …): the same seed n times would make n copies.
    seed = None if request.seed is None else (request.seed + offset) % 2**32
    return replace(request, n=size, seed=seed)


def _worst(errors: list[ProviderError | imaging.ImageInvalid]) -> ProviderError | imaging.ImageInvalid:
    """The error that decides a total failure: one that retrying cannot fix, else the first."""
    for e in errors:
        if isinstance(e, ProviderError) and not e.retryable:
            return e
    return errors[0]


def _merge_usage(results: list[ProviderResult]) -> dict:
    usage: dict = {}
    for r in results:
        for key, value in (r.usage or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                usage[key] = usage.get(key, 0) + value
    return usage


def generate(
    generation: Generation, request: ImageRequest, sizes: list[int], make_provider: Callable[[], Provider]
) -> FanOutResult:
    """Run one call per entry of `sizes` at once. When no call made an image (and none was canceled), `error` is the
    deciding one, for the caller to raise once it has recorded what the answered calls cost."""
    providers = [make_provider() for _ in sizes]  # one client each: HTTP sessions are not shared across threads
    offsets = [sum(sizes[:i]) for i in range(len(sizes))]
    calls: dict[int, Call] = {}
    canceled = False
    pool = ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(sizes)), thread_name_prefix=f"gen{generation.pk}")
    try:
        pending: set[Future] = {
            pool.submit(_one_call, generation, providers[i], _seeded(request, offsets[i], size), i)
            for i, size in enumerate(sizes)
        }
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                call = future.result()
                calls[call.index] = call
            made = sum(len(c.cleaned) for c in calls.values())
            # Progress as images arrive; False means the row is no longer this attempt's (canceled, or taken over).
            if not previews.record(generation, round(100 * made / max(1, sum(sizes))), None):
                canceled = True
                break
    finally:
        pool.shutdown(wait=not canceled, cancel_futures=True)

    ordered = [calls[i] for i in sorted(calls)]
    good = [c for c in ordered if c.cleaned]
    answered = [c for c in ordered if c.result is not None]
    errors = [c.error for c in ordered if c.error is not None]
    images: list[ProviderImage] = []
    cleaned: list[imaging.CleanImage] = []
    names: list[tuple[str, str]] = []
    for c in good:
        request_seed = _seeded(request, offsets[c.index], sizes[c.index]).seed
        for image, clean, name in zip(c.result.images, c.cleaned, c.names):
            images.append(image if image.seed is not None or request_seed is None else replace(image, seed=request_seed))
            cleaned.append(clean)
            names.append(name)
    warnings: list[str] = []
    for c in good:
        warnings += [w for w in c.result.warnings if w not in warnings]
    if errors and good:
        asked = sum(sizes)
        first = errors[0]
        why = first.message if isinstance(first, ProviderError) else str(first)
        warnings.append(f"{len(cleaned)} of {asked} images were made; {asked - len(cleaned)} failed ({first.code}: {why}).")
        logger.info("generation %s: %d of %d images made; codes=%s", generation.pk, len(cleaned), asked,
                    [e.code for e in errors])
    reported = [c.result.cost_usd for c in answered]
    result = ProviderResult(
        images=images,
        model=next((c.result.model for c in [*good, *answered] if c.result.model), ""),
        usage=_merge_usage([c.result for c in answered]),
        cost_usd=sum(reported) if reported and all(r is not None for r in reported) else None,
        warnings=warnings,
    )
    # A call's images beyond what it asked for are not priced: more than asked is a broken answer (SECURITY.md T28).
    refused = sum(min(len(c.result.images), sizes[c.index]) - len(c.cleaned) for c in answered)
    return FanOutResult(result=result, cleaned=cleaned, names=names, canceled=canceled, answered=bool(answered),
                        refused=refused, error=_worst(errors) if not good and not canceled else None)
