"""Fallback profiles (seed 004's error recovery): when a profile's provider fails for provider-side reasons after
its retries, the same generation continues on the profile's fallback, and the card says so.

Never for content_policy (another provider must not get what one refused) or for the request's own faults
(validation, missing key, forbidden address). A generation visits each profile at most once, so A→B→A stops at B.

The sweeper (images/jobs.py) uses the same path when a worker dies on the last attempt on a profile: `worker_lost`
then counts as one more provider-side failure, and the job continues on the fallback instead of failing.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from profiles.models import ImageProfile

from .models import Generation
from .providers import ProviderError, get_provider_class

logger = logging.getLogger(__name__)

# Failures that say "this provider, now" rather than "this request": worth trying elsewhere.
FALLBACK_CODES = frozenset({
    "provider_error", "provider_rate_limited", "timeout", "empty_response", "image_invalid", "image_too_large",
    "provider_auth_failed",
    "worker_lost",  # never raised by a provider: the sweeper's, for a worker that died on the profile's last attempt
})
MAX_HOPS = 3


def failure_note(generation: Generation, error: ProviderError, fallback_label: str) -> str:
    why = error.status or error.code.replace("_", " ")
    return f"{generation.provider_label} failed ({why}); made with {fallback_label} instead"


def fallback_options(generation: Generation, fallback: ImageProfile, model: str) -> tuple[dict, list[str]] | None:
    """The request's options as the fallback can take them, with what had to change; None if it cannot at all."""
    from .services import REQUEST_OPTIONS, GenerationRequestError, check_edit, validate_options

    options = {k: v for k, v in generation.parameters.items() if k in REQUEST_OPTIONS}
    cls = get_provider_class(fallback.provider)
    caps = cls.capabilities_for(model)
    changed = []
    if options.get("n", 1) > caps.n_max:
        options["n"] = caps.n_max
        changed.append(f"{cls.label} makes {caps.n_max} image(s) at a time")
    if options.get("aspect_ratio") and caps.aspect_ratios and options["aspect_ratio"] not in caps.aspect_ratios:
        changed.append(f"{cls.label} has no {options.pop('aspect_ratio')} aspect ratio; used its default")
    try:
        clean = validate_options(fallback.provider, options, model)
        if clean.get("edit_of") is not None:
            check_edit(owner=generation.owner, provider_kind=fallback.provider, model=model, image_id=clean["edit_of"],
                       mask=clean.get("mask", ""))
    except GenerationRequestError as e:
        logger.info("generation %s: fallback profile %s cannot take it (%s)", generation.pk, fallback.pk, e.code)
        return None
    return clean, changed


def continue_on_fallback(generation: Generation, error: ProviderError) -> bool:
    """Requeue `generation` on its profile's fallback; False (nothing changed) when there is none to use."""
    return move_to_fallback(generation, error) is not None


def continue_lost_on_fallback(generation: Generation, *, lease_until) -> bool | None:
    """The sweeper's: the worker running `generation`'s last attempt on its profile died (its lease, `lease_until`,
    expired). True: moved to the fallback; False: the row changed since it was read (another sweeper, a late
    worker, a cancel), so nothing was done; None: no fallback to use, so the caller fails the job as worker_lost."""
    error = ProviderError("The worker stopped while making this image.", code="worker_lost")
    return move_to_fallback(generation, error, lease_until=lease_until)


def move_to_fallback(generation: Generation, error: ProviderError, **fence) -> bool | None:
    """Requeue `generation` on its fallback with a compare-and-set on the attempt (and `fence`, what else the caller
    read). True: moved; False: the row was no longer this attempt's to move; None: no fallback to use."""
    from .services import enqueue_on_commit

    profile = generation.profile
    if error.code not in FALLBACK_CODES or profile is None or profile.fallback_id is None:
        return None
    tried = [*generation.parameters.get("tried_profiles", []), profile.pk]
    if profile.fallback_id in tried or len(tried) > MAX_HOPS:
        logger.info("generation %s: fallback %s already tried; not looping", generation.pk, profile.fallback_id)
        return None
    # The owner's own profile only, whatever the row says (profiles.services checks this on save as well).
    fallback = ImageProfile.objects.filter(pk=profile.fallback_id, owner_id=generation.owner_id).first()
    if fallback is None:
        return None
    try:
        cls = get_provider_class(fallback.provider)
    except ProviderError:
        return None
    model = fallback.model or cls.capabilities.default_model
    adapted = fallback_options(generation, fallback, model)
    if adapted is None:
        return None
    options, changed = adapted
    keep = {k: generation.parameters[k] for k in ("refined_by",) if k in generation.parameters}
    parameters = {
        **fallback.parameters, **options, **keep,
        "tried_profiles": tried,
        "fallback_from": {"profile": profile.pk, "provider": generation.provider, "model": generation.model,
                          "error_code": error.code, "status": error.status},
    }
    note = failure_note(generation, error, cls.label)
    moved = Generation.objects.filter(
        pk=generation.pk, status=Generation.Status.RUNNING, attempts=generation.attempts, **fence
    ).update(
        status=Generation.Status.QUEUED, profile=fallback, provider=fallback.provider, model=model,
        attempt_base=generation.attempts,  # the fallback gets its own MAX_ATTEMPTS (retries, card, sweeper)
        parameters=parameters, warnings=[*generation.warnings, note, *changed], lease_until=None,
        next_attempt_at=timezone.now(), error_code=error.code, error_message=error.message,
        progress=None, preview="",  # the failed attempt's live preview (its file is the caller's to delete)
    )
    if not moved:  # canceled meanwhile, or the lease was taken over: not ours to move
        return False
    logger.info("generation %s: %s failed (%s); continuing on fallback profile %s (%s)", generation.pk,
                generation.provider, error.code, fallback.pk, fallback.provider)
    enqueue_on_commit(generation.pk)
    return True
