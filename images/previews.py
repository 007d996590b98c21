"""Live previews (seed 001 streaming): the latest partial image and percent of a running generation.

Providers that can report progress call Provider.progress(percent, preview_bytes) (images/providers/base.py); the
worker hands them `listener(generation)`, which stores the numbers on the Generation row and the partial image as a
small WEBP in storage. The card polls every second and shows them; providers that report nothing leave
`progress` null and the card shows elapsed time only.

A partial image is provider output like any other: it goes through imaging.sanitize (format, pixel and byte caps,
re-encode) before a downscaled copy is written. Writes are throttled so a chatty provider cannot flood the database.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from . import imaging
from .models import Generation

logger = logging.getLogger(__name__)

PREVIEW_PX = 384
MIN_INTERVAL_S = 0.5  # at most two row updates a second per generation, unless a new picture arrives


def preview_name(generation: Generation, data: bytes) -> str:
    # A new name per picture: the card's <img> URL changes with it, so no browser cache shows a stale frame.
    return f"previews/{generation.owner_id}/gen_{generation.pk}_{hashlib.sha256(data).hexdigest()[:12]}.webp"


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


def _delete(name: str) -> None:
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
            _delete(new_name)
        return False
    if new_name and old and old != new_name:
        _delete(old)
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
    _delete(row[0])
