"""Synchronous generation for the seed 000 modal endpoint (`POST /api/generate-image`).

The request takes the same path as every other generation (generation_start, the job row, the same run and retry
code), so limits and usage apply; the first attempt runs in the request, retries in the workers, and this
module waits for the row to become final, up to IMAGEGEN_SYNC_WAIT_S. A wait that runs out leaves the job running.
The modal's images start unsaved (images/modal_images.py); seed 002's POST /api/images/generate saves them at once.
"""

from __future__ import annotations

import base64
import time

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction

from .models import Generation
from .providers import get_provider_class
from .services import GenerationRequestError, generation_run, generation_start

POLL_S = 0.25


def start_with_model(*, owner, prompt: str, profile=None, model: str = "", options: dict | None = None,
                     refined_prompt: str = "", modal: bool = False, parameters: dict | None = None) -> Generation:
    """generation_start, with an optional model override checked against the provider's list, provider
    `parameters` that override the profile's (seed 002's quality and style), and `modal` (the image modal: its
    images start unsaved). All are written before the commit that enqueues the job, so the worker never sees the
    profile's values instead."""
    with transaction.atomic():
        generation = generation_start(owner=owner, prompt=prompt, profile=profile, options=options or {},
                                      refined_prompt=refined_prompt)
        changes = {}
        if modal:
            changes["modal"] = generation.modal = True
        if parameters:
            changes["parameters"] = generation.parameters = {**generation.parameters, **parameters}
        if changes:
            Generation.objects.filter(pk=generation.pk).update(**changes)
        model = (model or "").strip()
        if model and model != generation.model:
            known = get_provider_class(generation.provider).capabilities.models
            if known and model not in known:
                raise GenerationRequestError(
                    f"Unknown model {model!r}; choose one of {', '.join(known)}.", fields={"model": list(known)}
                )
            Generation.objects.filter(pk=generation.pk).update(model=model)
            generation.model = model
    return generation


def run_and_wait(generation: Generation, *, timeout_s: float | None = None) -> Generation:
    """Run the first attempt here rather than wait for a worker (the compare-and-set claim means a worker that got
    there first runs it and this call does nothing), then wait for retries, if any, to finish."""
    generation_run(generation_id=generation.pk)
    return wait_until_final(generation, timeout_s=timeout_s)


def wait_until_final(generation: Generation, *, timeout_s: float | None = None) -> Generation:
    deadline = time.monotonic() + (settings.IMAGEGEN_SYNC_WAIT_S if timeout_s is None else timeout_s)
    while True:
        generation.refresh_from_db()
        if not generation.is_pending or time.monotonic() >= deadline:
            return generation
        time.sleep(POLL_S)


def data_uris(generation: Generation) -> list[str]:
    uris = []
    for image in generation.images.order_by("index"):
        with default_storage.open(image.file, "rb") as f:
            uris.append(f"data:{image.mime_type};base64,{base64.b64encode(f.read()).decode()}")
    return uris
