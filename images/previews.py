"""Live previews (seed 001 streaming): the latest partial image and percent of a running generation.

Providers that can report progress call Provider.progress(percent, preview_bytes) (images/providers/base.py); the
worker hands them `listener(generation)`, which stores the numbers on the Generation row and the partial image as a
small WEBP in storage. The card polls every second and shows them; providers that report nothing leave
`progress` null and the card shows elapsed time only.

A partial image is provider output like any other: it goes through imaging.sanitize (format, pixel and byte caps,
re-encode) before a downscaled copy is written. Writes are throttled so a chatty provider cannot flood the database.

A preview lives as long as its attempt. The worker discards it when the provider call returns; when the worker dies
instead, the sweeper (images/jobs.py) clears it with the job's requeue, fallback or worker_lost, and `prune_stale`
removes what is left: previews on finished jobs, and files no row names (a worker killed between saving a picture
and recording it).

Names (SECURITY.md T30; the same rule as images/storage.py): previews/<owner id>/gen_<generation id>_<sha256>.webp,
the full digest of the small WEBP written, so PREVIEW_NAME matches every name written and nothing the provider sends
takes part. Files named before that (…_<12 hex>.webp) live only as long as their attempt; prune_stale takes any name.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import time
from datetime import datetime

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from . import imaging
from .models import Generation

logger = logging.getLogger(__name__)

PREVIEW_PX = 384
MIN_INTERVAL_S = 0.5  # at most two row updates a second per generation, unless a new picture arrives


_GENERATION_IN_NAME = re.compile(r"/gen_(\d+)_")
PREVIEW_NAME = re.compile(r"^previews/\d+/gen_\d+_[0-9a-f]{64}\.webp$", re.ASCII)  # use with fullmatch
_OLDER_PREVIEW_NAME = re.compile(r"^previews/\d+/gen_\d+_[0-9a-f]{12}\.webp$", re.ASCII)  # an attempt under way


def is_preview_name(name: str) -> bool:
    """A name this module writes (or wrote before the full digest): the only names the preview route reads."""
    return bool(PREVIEW_NAME.fullmatch(name) or _OLDER_PREVIEW_NAME.fullmatch(name))


def preview_name(generation: Generation, data: bytes) -> str:
    # A new name per picture: the card's <img> URL changes with it, so no browser cache shows a stale frame.
    # Two ints and a hex digest: always a PREVIEW_NAME (tests/security/test_images.py T30 checks every one written).
    return f"previews/{int(generation.owner_id)}/gen_{int(generation.pk)}_{hashlib.sha256(data).hexdigest()}.webp"


def preview_webp(data: bytes) -> bytes:
    """A small WEBP of an untrusted partial image; raises imaging.ImageInvalid when it is not a safe image."""
    clean = imaging.sanitize(data)
    img = Image.open(io.BytesIO(clean.data))
    img.thumbnail((PREVIEW_PX, PREVIEW_PX))
    if img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    out = io.BytesIO()
    img.save(out, format="WEBP", quality=70)
    return out.getvalue()


def delete_file(name: str) -> None:
    if name:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("could not delete preview %s", name)


def record(generation: Generation, percent: int | None, preview: bytes | None) -> bool:
    """Store progress on a running generation (this attempt only); False when it is no longer running."""
    fields: dict = {}
    if percent is not None:
        fields["progress"] = percent
    new_name = ""
    if preview:
        try:
            small = preview_webp(preview)
        except imaging.ImageInvalid as e:
            logger.info("generation %s: ignored a partial image (%s)", generation.pk, e.code)
        else:
            new_name = preview_name(generation, small)
            if not default_storage.exists(new_name):
                default_storage.save(new_name, ContentFile(small))
            fields["preview"] = new_name
    if not fields:
        return True
    old = Generation.objects.filter(pk=generation.pk).values_list("preview", flat=True).first() or ""
    updated = Generation.objects.filter(
        pk=generation.pk, status=Generation.Status.RUNNING, attempts=generation.attempts
    ).update(**fields)
    if not updated:  # canceled or taken over meanwhile: keep nothing
        if new_name and new_name != old:
            delete_file(new_name)
        return False
    if new_name and old and old != new_name:
        delete_file(old)
    return True


def listener(generation: Generation):
    """The on_progress callback for one attempt: throttled, and never raising into the provider."""
    last = {"at": 0.0, "percent": None}

    def on_progress(percent: int | None, preview: bytes | None) -> None:
        now = time.monotonic()
        if not preview and (percent == last["percent"] or now - last["at"] < MIN_INTERVAL_S):
            return
        last["at"], last["percent"] = now, percent
        record(generation, percent, preview)

    return on_progress


def discard(generation: Generation) -> None:
    """The attempt is over (image stored, failed, or retried): drop the preview file and the numbers."""
    row = Generation.objects.filter(pk=generation.pk).values_list("preview", "progress").first()
    if row is None or (not row[0] and row[1] is None):
        return  # most providers report nothing: one read, no write
    Generation.objects.filter(pk=generation.pk).update(progress=None, preview="")
    delete_file(row[0])


def prune_stale(*, older_than: datetime, files: bool = True) -> list[str]:
    """Delete previews no running attempt owns; return their names. Safe alongside workers and other sweepers.

    Rows: a job that ended while its worker was dead (canceled, or failed by the sweeper before previews were
    cleared with the lease) still names a preview; clearing it is a compare-and-set on that name and a finished
    status. Files (a storage listing, so only when `files`): those no row names and older than `older_than`, since
    a live worker saves a picture a moment before recording it on its row.
    """
    deleted = []
    pending = [Generation.Status.QUEUED, Generation.Status.RUNNING]
    ended = Generation.objects.exclude(preview="").exclude(status__in=pending)
    for pk, name in ended.values_list("pk", "preview")[:1000]:  # the next sweep takes the rest
        if Generation.objects.filter(pk=pk, preview=name).exclude(status__in=pending).update(preview="", progress=None):
            delete_file(name)
            deleted.append(name)
    if not files:
        return deleted
    try:
        owners, _ = default_storage.listdir("previews")
    except FileNotFoundError:
        return deleted
    # Listed before the rows are read: a preview recorded during the listing is still protected.
    names = [f"previews/{owner}/{name}" for owner in owners for name in default_storage.listdir(f"previews/{owner}")[1]]
    referenced = set(Generation.objects.exclude(preview="").values_list("preview", flat=True))
    # A queued or running job's files are its worker's to replace or discard (a retry of a seeded job may record
    # the very picture a dead attempt left behind); they are collected once the job has ended.
    busy = {str(pk) for pk in Generation.objects.filter(status__in=pending).values_list("pk", flat=True)}
    for name in names:
        if name in referenced or (match := _GENERATION_IN_NAME.search(name)) and match[1] in busy:
            continue
        try:
            if default_storage.get_modified_time(name) >= older_than:
                continue
        except FileNotFoundError:
            continue  # its worker (or another sweeper) deleted it meanwhile
        delete_file(name)
        deleted.append(name)
    return deleted
