"""Starting and running generations: the one path used by the chat, the API, the modal and the admin."""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.db import DatabaseError, connections, router, transaction
from django.db.models import Count, F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from ops.logs import current_request_id, log_generation_outcome
from profiles.crypto import KeyDecryptError
from profiles.models import ApiKey, ImageProfile

from . import fanout, imaging, previews, pricing
from .jobs import MAX_ATTEMPTS, task_priority, dispatch_priority, lease_duration
from .library_cache import library_changed
from .models import GeneratedImage, Generation, ImageSource, ImageType, search_text
from .providers import (
    DEFAULT_PROVIDER, PROVIDERS, ImageRequest, ProviderError, ProviderResult, get_provider, get_provider_class,
)
from .signals import generation_finished
from .storage import is_own_mask_name, store_image
from moderation.checks import check_generation
from .styles import STYLES

logger = logging.getLogger(__name__)

MAX_RETRY_AFTER_S = 120
MAX_IMAGES_PER_REQUEST = 4
# The person's request options within Generation.parameters (the rest are the profile's, or bookkeeping).
REQUEST_OPTIONS = ("n", "aspect_ratio", "seed", "style", "raw", "better_context", "edit_of", "mask", "type")


class GenerationRequestError(Exception):
    """The request is invalid; nothing was queued. `code` is from the error taxonomy."""

    # Seconds until asking again can succeed, for our own limits (429 Retry-After); None: no such time.
    retry_after_s: int | None = None

    def __init__(self, message: str, *, code: str = "validation_error", fields: dict | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.fields = message, code, fields or {}


def resolve_profile(*, owner, profile: ImageProfile | None = None, chat=None) -> ImageProfile | None:
    """The explicit profile, else the chat's, else the owner's default; None means the offline renderer."""
    if profile is not None:
        return profile
    if chat is not None and chat.image_profile_id:
        return chat.image_profile
    # At most one default per owner (a unique constraint): a slice, not first(), which would add an ORDER BY.
    return next(iter(ImageProfile.objects.for_user(owner).filter(is_default=True)[:1]), None)


def validate_options(provider_kind: str, options: dict, model: str = "") -> dict:
    # Per-model limits matter (dall-e-3 makes one image at a time), so ask for the model's capabilities.
    cls = get_provider_class(provider_kind)
    caps = cls.capabilities_for(model or cls.capabilities.default_model)
    if not caps.generate:
        raise GenerationRequestError(
            f"{cls.label} cannot make images. Choose an image provider in your profile.", code="unsupported_provider"
        )
    clean = {}
    n = options.get("n", 1)
    # Up to 4 from any model: past its n_max per call, the calls run at once (images/fanout.py).
    if not isinstance(n, int) or not 1 <= n <= MAX_IMAGES_PER_REQUEST:
        raise GenerationRequestError(f"n must be between 1 and {MAX_IMAGES_PER_REQUEST}.", fields={"n": "out of range"})
    clean["n"] = n
    if ar := options.get("aspect_ratio"):
        if caps.aspect_ratios and ar not in caps.aspect_ratios:
            allowed = ", ".join(caps.aspect_ratios)
            raise GenerationRequestError(
                f"Aspect ratio {ar} is not available here; choose one of {allowed}.", fields={"aspect_ratio": allowed}
            )
        clean["aspect_ratio"] = ar
    if (seed := options.get("seed")) is not None:
        if not isinstance(seed, int) or not 0 <= seed < 2**32:
            raise GenerationRequestError("seed must be a whole number from 0 to 4294967295.", fields={"seed": "invalid"})
        clean["seed"] = seed
    if style := options.get("style"):
        if style not in STYLES:
            raise GenerationRequestError(
                f"Unknown style {style!r}; choose one of {', '.join(STYLES)}.", fields={"style": list(STYLES)}
            )
        clean["style"] = style
    if options.get("raw"):
        clean["raw"] = True
    if options.get("better_context"):
        clean["better_context"] = True  # the worker asks the owner's chat model to refine first (chats/refine.py)
    if options.get("edit_of") is not None:
        clean["edit_of"] = options["edit_of"]  # the GeneratedImage this one edits (checked in generation_start)
    if options.get("mask"):
        # The storage name of the painted area (images/masks.py); the owner's own, checked by check_edit.
        if options.get("edit_of") is None or not isinstance(options["mask"], str):
            raise GenerationRequestError("A mask goes with an edit of an image.", fields={"mask": "invalid"})
        clean["mask"] = options["mask"]
    if image_type := options.get("type"):  # seed 004's category: picks the world-notes prefix, set on the images
        if image_type not in ImageType.values:
            types = ", ".join(v for v in ImageType.values if v)
            raise GenerationRequestError(f"Unknown type {image_type!r}; choose one of {types}.", fields={"type": types})
        clean["type"] = image_type
    return clean


def refine_prompt(prompt: str, options: dict, *, world_note: str = "") -> str:
    """The prompt actually sent: the owner's world notes for the image type, the user's words and the style's
    suffix (LLM refinement comes later). --raw sends the words exactly as typed."""
    if options.get("raw"):
        return prompt
    from profiles.world_notes import with_world_note

    prompt = with_world_note(prompt, world_note)
    style = STYLES.get(options.get("style", ""))
    if style:
        return f"{prompt}, {style.suffix}"
    return prompt


def generation_start(
    *,
    owner,
    prompt: str,
    options: dict | None = None,
    negative_prompt: str = "",
    chat=None,
    message=None,
    profile: ImageProfile | None = None,
    refined_prompt: str = "",
) -> Generation:
    prompt = (prompt or "").strip()
    if not prompt:
        raise GenerationRequestError("Tell me what to draw: /image <prompt>", code="missing_prompt")
    limit = settings.IMAGEGEN_MAX_PROMPT_CHARS
    if len(prompt) > limit:
        raise GenerationRequestError(
            f"The prompt is {len(prompt):,} characters long; the limit is {limit:,}.", fields={"prompt": "too long"}
        )
    if profile is not None and profile.owner_id != owner.pk:
        raise GenerationRequestError("No such profile.", code="not_found")
    profile = resolve_profile(owner=owner, profile=profile, chat=chat)
    provider_kind = profile.provider if profile else DEFAULT_PROVIDER
    caps = get_provider_class(provider_kind).capabilities
    model = (profile.model if profile else "") or caps.default_model
    options = validate_options(provider_kind, options or {}, model)
    if options.get("edit_of") is not None:
        check_edit(owner=owner, provider_kind=provider_kind, model=model, image_id=options["edit_of"],
                   mask=options.get("mask", ""))
    # usage.py imports this module (its QuotaExceeded and DailyLimitReached are GenerationRequestErrors)
    from .usage import check_daily_limit, check_quota

    style = STYLES.get(options.get("style", ""))
    if style and style.negative and not options.get("raw"):
        negative_prompt = ", ".join(p for p in (negative_prompt, style.negative) if p)
    # No savepoint: inside a caller's transaction (the chat's post) a refusal is raised after this block, so the
    # caller's transaction stays usable for the error card, and the lock is simply held until it commits.
    refused = None
    with transaction.atomic(savepoint=False):
        # One lock for every per-user limit below: one user's concurrent requests are counted one at a time, so two
        # cannot both slip under the active cap, the monthly cap or the daily limit.
        lock_owner(owner)
        pending, queued = owner_job_counts(owner)
        try:
            check_active_limit(owner, pending=pending)
            check_quota(owner, provider_kind)  # the monthly cap: quota_exceeded before anything is queued
            check_daily_limit(owner, options["n"])  # the optional images-per-day quota
        except GenerationRequestError as e:
            refused = e
        else:
            generation = _create_generation(
                owner=owner, chat=chat, message=message, profile=profile, provider_kind=provider_kind, model=model,
                options=options, prompt=prompt, negative_prompt=negative_prompt, refined_prompt=refined_prompt,
            )
            # Inside the block, so the ORM queue's task row commits with the generation even when this block is
            # the whole transaction (the API). Robust: if the queue is down, the request still succeeds and the row
            # waits, queued, for the sweeper (images/jobs.py) to enqueue it again (T42). Under the lock, this
            # owner's queued jobs are exactly those ahead of this one: the dispatch priority is known now, with no
            # query at commit (jobs.dispatch_priority's count).
            enqueue_on_commit(generation.pk, priority=task_priority(generation.priority, queued))
    if refused is not None:
        raise refused
    return generation


def lock_owner(owner) -> None:
    """Lock the owner's user row until the transaction ends, so the per-user limits checked after it see every
    earlier request of this user. PostgreSQL only: SQLite has no row locks (Django drops FOR UPDATE there), and its
    IMMEDIATE transactions already serialise every writer, so the query would lock nothing."""
    if connections[router.db_for_write(Generation)].features.has_select_for_update:
        get_user_model().objects.select_for_update().filter(pk=owner.pk).values_list("pk", flat=True).first()


def owner_job_counts(owner) -> tuple[int, int]:
    """(queued or running, queued) for the owner, in one query: the active cap and the dispatch priority's fairness."""
    # GROUP BY status: a third cheaper to build than aggregate(Count(filter=…)), and the same one indexed scan.
    rows = Generation.objects.for_user(owner).pending().order_by().values_list("status").annotate(n=Count("pk"))
    by_status = dict(rows)
    queued = by_status.get(Generation.Status.QUEUED, 0)
    return queued + by_status.get(Generation.Status.RUNNING, 0), queued


def check_active_limit(owner, *, pending: int | None = None) -> None:
    """At most IMAGEGEN_MAX_ACTIVE_PER_USER queued or running jobs per user (T32), so one user cannot fill the
    workers. Called after lock_owner, inside its transaction (`pending`: owner_job_counts's, when already counted)."""
    limit = settings.IMAGEGEN_MAX_ACTIVE_PER_USER
    if not limit:
        return
    if pending is None:
        pending = Generation.objects.filter(owner=owner).pending().count()
    if pending >= limit:
        raise GenerationRequestError(
            f"You already have {limit} images in progress. Wait for one to finish, or cancel one.",
            code="rate_limited",
        )


def _create_generation(
    *, owner, chat, message, profile, provider_kind, model, options, prompt, negative_prompt, refined_prompt
) -> Generation:
    return Generation.objects.create(
        owner=owner,
        chat=chat,
        message=message,
        profile=profile,
        provider=provider_kind,
        model=model,
        parameters={**(profile.parameters if profile else {}), **options},
        # The source of an edit as a link too (checked as the owner's own by check_edit in generation_start).
        edit_of_id=options.get("edit_of"),
        prompt=prompt,
        negative_prompt=negative_prompt,
        refined_prompt=refined_prompt or refine_prompt(prompt, options, world_note=_world_note(owner, options)),
    )


def _world_note(owner, options: dict) -> str:
    from profiles.world_notes import world_note_for

    return world_note_for(owner, options.get("type", ""))


def enqueue_on_commit(generation_id: int, *, delay_s: float = 0, priority: int | None = None) -> None:
    """Queue the job so that it exists exactly when the generation's row commits (T42)."""
    kwargs = {"delay_s": delay_s} if priority is None else {"delay_s": delay_s, "priority": priority}
    if queue_shares_the_transaction():
        # The ORM queue's table is in this database: the task row goes in with the generation, in the same commit
        # (both or neither, and one write transaction per post instead of two: bench P1). A failure that is not the
        # database's own leaves the row queued for the sweeper, as a broker down at commit does below.
        try:
            enqueue_generation(generation_id, **kwargs)
        except DatabaseError:
            raise  # the transaction itself is failing: it cannot commit the generation either
        except Exception:
            logger.exception("could not enqueue generation %s; the sweeper will", generation_id)
        return

    def enqueue_job() -> None:  # a named function: Django's robust on_commit logs failures by __qualname__
        enqueue_generation(generation_id, **kwargs)

    transaction.on_commit(enqueue_job, robust=True)


def queue_shares_the_transaction() -> bool:
    """Whether a task enqueued now commits or rolls back with the open transaction: the ORM queue (django-tasks-db)
    on the generations' database, inside an atomic block. RQ (Redis) never does, so it waits for on_commit."""
    from django_tasks import task_backends
    from django_tasks_db.backend import DatabaseBackend
    from django_tasks_db.models import DBTaskResult

    alias = router.db_for_write(Generation)
    return (isinstance(task_backends["default"], DatabaseBackend) and router.db_for_write(DBTaskResult) == alias
            and connections[alias].in_atomic_block)


def enqueue_generation(generation_id: int, *, delay_s: float = 0, priority: int | None = None) -> None:
    """`priority`: the task priority when the caller already knows it (generation_start); else it is computed."""
    from .tasks import run_generation

    # The task priority carries the user's priority and fairness between users (images/jobs.py). RQ has no
    # priorities (django-tasks-rq refuses any but the default): there jobs run first come, first served.
    task = run_generation
    if task.get_backend().supports_priority:
        task = task.using(priority=dispatch_priority(generation_id) if priority is None else priority)
    if delay_s:
        # Rounded up to the whole second: RQ's scheduler keeps run_after in whole seconds (truncated), and a retry
        # must never run before the provider's Retry-After (tests/jobs/test_scale_rq.py).
        run_after = timezone.now() + timedelta(seconds=delay_s)
        task = task.using(run_after=run_after.replace(microsecond=0) + timedelta(seconds=bool(run_after.microsecond)))
    # The request id travels with the job, so the worker's log lines can be joined to the web request's.
    task.enqueue(generation_id, request_id=current_request_id())


def edit_capable_providers(capability: str = "edit") -> list[str]:
    """The labels of the providers with `capability` ("edit", or "mask": edits inside a painted area)."""
    labels = []
    for kind, (label, _) in PROVIDERS.items():
        try:
            if getattr(get_provider_class(kind).capabilities, capability):
                labels.append(label)
        except (ImportError, ProviderError):
            continue
    return labels


def check_edit(*, owner, provider_kind: str, model: str, image_id, mask: str = "") -> None:
    """An edit needs the owner's own image and a provider (and model) that can edit, and, with a painted area
    (`mask`, a storage name), the owner's own mask and a provider that edits inside one; else a clear refusal."""
    if not GeneratedImage.objects.for_user(owner).filter(pk=image_id).exists():
        raise GenerationRequestError("There is no such image to edit.", code="not_found")
    cls = get_provider_class(provider_kind)
    if not cls.capabilities_for(model).edit:
        raise GenerationRequestError(
            f"{cls.label}{f' ({model})' if model else ''} cannot edit images. Providers that can: "
            f"{', '.join(edit_capable_providers())}. Choose an image profile with one of them (--profile <name>).",
            code="unsupported_provider",
        )
    if not mask:
        return
    if not is_own_mask_name(mask, owner.pk):
        raise GenerationRequestError("There is no such mask.", code="not_found", fields={"mask": "not found"})
    if not cls.capabilities_for(model).mask:
        raise GenerationRequestError(
            f"{cls.label}{f' ({model})' if model else ''} cannot edit only a painted area. Providers that can: "
            f"{', '.join(edit_capable_providers('mask'))}. Clear the painting to edit the whole image, or choose an image "
            f"profile with one of them.",
            code="unsupported_provider",
        )


def edit_inputs(generation: Generation) -> tuple[tuple[bytes, str], ...]:
    """The image an edit starts from, read from our storage (never from the browser)."""
    image_id = generation.parameters.get("edit_of")
    if image_id is None:
        return ()
    image = GeneratedImage.objects.filter(pk=image_id, owner_id=generation.owner_id).first()
    if image is None:
        raise ProviderError("The image to edit no longer exists.", code="validation_error")
    with default_storage.open(image.file, "rb") as handle:
        return ((handle.read(), image.mime_type),)


def edit_mask(generation: Generation) -> bytes | None:
    """An edit's painted area (images/masks.py's canonical PNG), read from the owner's own folder only."""
    name = generation.parameters.get("mask")
    if not name:
        return None
    if not is_own_mask_name(name, generation.owner_id):
        raise ProviderError("The painted area is not one of yours.", code="validation_error")
    try:
        with default_storage.open(name, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise ProviderError("The painted area no longer exists; paint it again.", code="validation_error") from None


def refine_before_run(generation: Generation, *, offline: bool = False) -> None:
    """Better context for a chat /image: `offline`, the chat's recent turns, world note and style (no network);
    else the owner's chat model rewrites the prompt with the chat's context. A refinement problem never fails the
    image: the prompt it had stays."""
    # chats depends on images, not the other way round
    from chats.refine import refine_generation_offline, refine_generation_prompt

    try:
        (refine_generation_offline if offline else refine_generation_prompt)(generation)
    except Exception:
        logger.exception("prompt refinement failed for generation %s; using the prompt as it was", generation.pk)


def build_image_request(generation: Generation) -> ImageRequest:
    params = generation.parameters
    return ImageRequest(
        input_images=edit_inputs(generation),
        mask=edit_mask(generation),
        prompt=generation.used_prompt,
        model=generation.model,
        negative_prompt=generation.negative_prompt,
        n=params.get("n", 1),
        aspect_ratio=params.get("aspect_ratio"),
        seed=params.get("seed"),
        quality=params.get("quality"),
        width=params.get("width"),
        height=params.get("height"),
        steps=params.get("steps"),
        guidance=params.get("guidance"),
        # The provider's own style (dall-e-3 vivid/natural, Stability presets); "style" means the app's presets.
        style=params.get("provider_style"),
        # Provider-specific options from the profile (background, output_format, sampler, …); each provider
        # reads the keys it knows and ignores the rest.
        extra={k: v for k, v in params.items() if k not in _REQUEST_FIELDS},
    )


_REQUEST_FIELDS = {
    "n", "aspect_ratio", "seed", "quality", "width", "height", "steps", "guidance", "style", "provider_style", "raw",
    "mask",
}


def provider_for(generation: Generation):
    api_key, base_url = None, None
    profile = generation.profile
    if profile is not None:
        base_url = profile.base_url or None
        key = profile.api_key
        if key is None and not base_url:
            # No key picked: the owner's key for this provider. Never for a profile with its own server address: a
            # key saved for the provider's own API is not sent to a host it was not saved for (SECURITY.md T15).
            key = ApiKey.objects.filter(owner_id=generation.owner_id, provider=profile.provider).first()
        if key is not None:
            if key.owner_id != generation.owner_id:
                raise ProviderError("That API key does not belong to you.", code="missing_api_key")
            try:
                api_key = key.get_secret()
            except KeyDecryptError:
                # A ciphertext copied from another user's row, or encrypted with a key no longer configured (T11).
                raise ProviderError(
                    "The stored API key cannot be used; add it again in Settings → API keys.", code="key_invalid"
                ) from None
    return get_provider(generation.provider, api_key=api_key, base_url=base_url)


def generation_run(*, generation_id: int) -> None:
    """Run one attempt. Claims the row with a compare-and-set, so a job delivered twice runs once."""
    now = timezone.now()
    claimed = Generation.objects.filter(pk=generation_id, status=Generation.Status.QUEUED).update(
        status=Generation.Status.RUNNING,
        started_at=now,
        attempts=F("attempts") + 1,
        lease_until=now + lease_duration(),
        next_attempt_at=None,
    )
    if not claimed:
        return
    generation = Generation.objects.select_related("profile__api_key").get(pk=generation_id)
    # The provider's answer once in hand: it has charged for it, so a failure from there on still records the cost.
    answered: ProviderResult | None = None
    cleaned: list[imaging.CleanImage] = []
    refused = 0  # images answered but not kept (priced unmeasured)
    try:
        if generation.parameters.get("better_context"):
            refine_before_run(generation, offline=True)  # no network: checked below like the person's own words
        # Before any provider call, the refiner's chat model included (moderation/checks.py): content_policy.
        check_generation(generation)
        if generation.parameters.get("better_context"):
            checked = generation.used_prompt
            refine_before_run(generation)
            if generation.used_prompt != checked:
                check_generation(generation, only_used_prompt=True)
        image_request = build_image_request(generation)
        if len(call_sizes := fanout.calls_for(generation, image_request)) > 1:
            # More images than the model makes per call: the calls run at once, all-or-partial (images/fanout.py).
            try:
                fanned = fanout.generate(generation, image_request, call_sizes, partial(provider_for, generation))
            finally:
                previews.discard(generation)
            if fanned.answered:
                answered, refused = fanned.result, fanned.refused
            if fanned.error is not None:
                raise fanned.error
            if fanned.canceled and not fanned.cleaned:
                # Canceled while the calls ran, with no image kept: nothing to store, but any answer is charged.
                _charge_failed_answer(generation, answered, cleaned, refused)
                return
            result, cleaned, names = fanned.result, fanned.cleaned, fanned.names
        else:
            provider = provider_for(generation)
            provider.on_progress = previews.listener(generation)  # live previews, where the provider streams them
            try:
                result = provider.edit(image_request) if image_request.input_images else provider.generate(image_request)
            finally:
                previews.discard(generation)
            asked = generation.parameters.get("n", 1)
            # Priced up to the number asked: more than asked is a broken answer, not what we ordered.
            answered, refused = result, min(len(result.images), asked)
            if not result.images:
                raise ProviderError("The provider answered without an image.", code="empty_response")
            if len(result.images) > asked:
                # More than asked for is a broken or hostile answer (SECURITY.md T28): store none of it.
                raise ProviderError(f"The provider sent {len(result.images)} images for {asked} asked.",
                                    code="provider_error")
            cleaned = [imaging.sanitize(image.data) for image in result.images]
            refused = 0
            names = [store_image(generation.owner_id, clean) for clean in cleaned]
    except ProviderError as e:
        _charge_failed_answer(generation, answered, cleaned, refused)  # an empty, or too full, answer is billed
        _fail_or_retry(generation, e)
        return
    except imaging.ImageInvalid as e:
        _charge_failed_answer(generation, answered, cleaned, refused)
        _finish(generation, Generation.Status.FAILED, error_code=e.code, error_message=str(e))
        return
    except DatabaseError:
        # The database went away mid-attempt (a restart, a failover): retried like a provider's 503, not failed as
        # our bug. If it is still down, recording the retry raises too and the job comes back through its lease.
        logger.warning("generation %s: database error during the attempt; retrying", generation_id, exc_info=True)
        conn = connections[router.db_for_write(Generation)]
        if not conn.in_atomic_block and conn.connection is not None and not conn.is_usable():
            conn.close()  # a broken connection; the next query opens a new one
        _charge_failed_answer(generation, answered, cleaned, refused)
        _fail_or_retry(generation, ProviderError("The database was briefly unavailable; trying again.",
                                                 code="internal_error", retryable=True))
        return
    except Exception:
        logger.exception("generation %s failed unexpectedly", generation_id)
        _charge_failed_answer(generation, answered, cleaned, refused)
        _finish(generation, Generation.Status.FAILED, error_code="internal_error", error_message="Something broke on our side.")
        return

    charge = _charge_fields(generation, answer_cost(generation, result, cleaned, refused))
    with transaction.atomic():
        finished = _finish(
            generation,
            Generation.Status.SUCCEEDED,
            model=result.model or generation.model,
            warnings=[*generation.warnings, *result.warnings],  # a fallback's note ("… made with X instead") first
            usage=result.usage,
            **charge,
            error_code="",  # a retried job that succeeded keeps no error from an earlier attempt
            error_message="",
        )
        if not finished:  # canceled (or its lease taken over by a later attempt) while running: discard the result
            # ...but the provider has billed it: the ledger keeps what a canceled job cost.
            Generation.objects.filter(pk=generation.pk, status=Generation.Status.CANCELED).update(
                usage=result.usage, **charge)
            return
        GeneratedImage.objects.bulk_create(
            [
                GeneratedImage(
                    generation=generation,
                    owner_id=generation.owner_id,
                    index=i,
                    file=file,
                    thumbnail=thumb,
                    sha256=clean.sha256,
                    width=clean.width,
                    height=clean.height,
                    mime_type=clean.mime_type,
                    bytes=len(clean.data),
                    seed=image.seed,
                    revised_prompt=image.revised_prompt or "",
                    # bulk_create skips save(): the search document is written here (the refinement above is in
                    # `generation` already; the prompts do not change after this).
                    search_text=search_text(generation.prompt, generation.refined_prompt, image.revised_prompt or ""),
                    image_type=generation.parameters.get("type", ""),
                    # The image modal's images wait outside the gallery until saved (images/modal_images.py).
                    source=ImageSource.MODAL if generation.modal else ImageSource.GENERATED,
                    in_gallery=not generation.modal,
                )
                for i, (image, clean, (file, thumb)) in enumerate(zip(result.images, cleaned, names))
            ]
        )
        library_changed(generation.owner_id)  # bulk_create sends no post_save: the gallery's cached counts go
    logger.debug(  # the INFO line per generation is ops.logs.log_generation_outcome's
        "generation %s succeeded provider=%s model=%s images=%d attempts=%d",
        generation.pk, generation.provider, generation.model, len(cleaned), generation.attempts,
    )


def answer_cost(generation: Generation, result: ProviderResult, cleaned: list[imaging.CleanImage],
                refused: int = 0) -> pricing.Cost:
    """What the provider charged for `result`: its own figure, else its token usage, else the price table for the
    images kept (`cleaned`, measured) and those it made that we refused (`refused`, priced at the requested size)."""
    return pricing.generation_cost(
        provider=generation.provider, model=result.model or generation.model, parameters=generation.parameters,
        usage=result.usage, reported_usd=result.cost_usd, sizes=[(c.width, c.height) for c in cleaned],
        unmeasured=refused,
    )


def _charge_fields(generation: Generation, cost: pricing.Cost) -> dict:
    """The ledger's update for one more billed answer: added in the database to what this row already records (an
    earlier attempt's refused answer, before a retry or a fallback), so no charge is overwritten or lost."""
    earlier = [generation.cost_source] if generation.estimated_cost_usd is not None else []
    fields: dict = {"cost_source": pricing.least_trusted(cost.source, *earlier)}
    if cost.usd is not None:
        money = Generation._meta.get_field("estimated_cost_usd")
        earlier_usd = Coalesce(F("estimated_cost_usd"), Value(Decimal(0)), output_field=money)
        fields["estimated_cost_usd"] = earlier_usd + Value(cost.usd, output_field=money)
    return fields


def _charge_failed_answer(generation: Generation, answered: ProviderResult | None,
                          cleaned: list[imaging.CleanImage], refused: int) -> None:
    """Record what an answer cost when the attempt fails after it (images refused as unsafe or too many, an answer
    without an image, a file not stored): the provider billed it, so Settings → Usage and the monthly cap count it.
    No answer (a provider error) was charged nothing. Done before the job fails, retries or moves to a fallback."""
    if answered is None:
        return
    cost = answer_cost(generation, answered, cleaned, refused)
    try:
        Generation.objects.filter(
            Q(status=Generation.Status.RUNNING, attempts=generation.attempts) | Q(status=Generation.Status.CANCELED),
            pk=generation.pk,
        ).update(usage=answered.usage, **_charge_fields(generation, cost))
    except DatabaseError:
        logger.warning("generation %s: could not record the cost of a refused answer", generation.pk, exc_info=True)


def _finish(generation: Generation, status: str, **fields) -> bool:
    """Move a running generation to a final state; False if it is no longer this attempt's to finish.

    The attempt number is a fencing token: a worker that outlived its lease (the sweeper requeued the job and another
    worker claimed it) finds attempts changed and writes nothing.
    """
    finished = bool(
        Generation.objects.filter(pk=generation.pk, status=Generation.Status.RUNNING, attempts=generation.attempts).update(
            status=status, finished_at=timezone.now(), lease_until=None, **fields
        )
    )
    if finished:
        transaction.on_commit(partial(log_generation_outcome, generation.pk))
        transaction.on_commit(partial(generation_finished.send, sender=Generation, generation=generation), robust=True)
    return finished


def _fail_or_retry(generation: Generation, error: ProviderError) -> None:
    retry_after = error.retry_after
    # A fallback profile gets its own MAX_ATTEMPTS; `attempts` keeps counting (it is the fencing token).
    if error.retryable and generation.attempts_on_profile < MAX_ATTEMPTS and (retry_after or 0) <= MAX_RETRY_AFTER_S:
        # Exponential backoff with full jitter, but never sooner than the provider asked.
        delay = max(retry_after or 0, random.uniform(0, min(60, 2 * 2**generation.attempts)))
        requeued = Generation.objects.filter(
            pk=generation.pk, status=Generation.Status.RUNNING, attempts=generation.attempts
        ).update(
            status=Generation.Status.QUEUED,
            lease_until=None,
            next_attempt_at=timezone.now() + timedelta(seconds=delay),
            error_code=error.code,
            error_message=error.message,
        )
        if requeued:
            enqueue_on_commit(generation.pk, delay_s=delay)
        return
    from .fallback import continue_on_fallback

    if continue_on_fallback(generation, error):
        return
    logger.debug("generation %s failed code=%s attempts=%d", generation.pk, error.code, generation.attempts)
    _finish(generation, Generation.Status.FAILED, error_code=error.code, error_message=error.message)


def generation_cancel(*, generation: Generation) -> bool:
    """Cancel a queued or running generation; a running one's result is discarded when it returns."""
    canceled = bool(
        Generation.objects.filter(pk=generation.pk).pending().update(
            status=Generation.Status.CANCELED, finished_at=timezone.now(), lease_until=None
        )
    )
    if canceled:
        transaction.on_commit(partial(log_generation_outcome, generation.pk))
    return canceled


def generation_retry(*, generation: Generation) -> Generation:
    """A new attempt of the same request, as a new generation on the same message.

    The old row is marked `retried` first, with a compare-and-set, so a generation is retried once however the
    retries overlap (two clicks, `retry_failed` runs with overlapping --since spans); a refused start (a limit)
    takes the mark back with everything else."""
    with transaction.atomic():
        marked = Generation.objects.filter(pk=generation.pk).exclude(parameters__has_key="retried").update(
            parameters={**generation.parameters, "retried": True}, message=None)
        if not marked:
            raise GenerationRequestError("This image was retried already; retry the newer attempt.",
                                         code="validation_error")
        return generation_start(
            owner=generation.owner,
            prompt=generation.prompt,
            options={k: v for k, v in generation.parameters.items()
                     if k in REQUEST_OPTIONS},
            chat=generation.chat,
            message=generation.message,
            profile=generation.profile,
            refined_prompt=generation.refined_prompt,
        )
