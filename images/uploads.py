"""Uploads and imports (seed 001): images that come from outside join the gallery beside generated ones.

Each goes through imaging.sanitize (formats, pixel cap, re-encode: nothing of the original file survives) and the
content-addressed store, then gets a Generation row of its own (provider "upload"/"import", status succeeded, no
cost) and a GeneratedImage with `source` upload/import. So the gallery, the detail page, the API, ZIP export,
ownership checks and /edit (`--image N`, images.services.check_edit/edit_inputs) work on them unchanged.
Imports are fetched by imagegen_site.http.download: https only, no private addresses, every redirect re-checked,
byte cap and deadline.
"""

from __future__ import annotations

import logging
import re
import unicodedata

from django.db import transaction
from django.utils import timezone

from . import imaging
from .models import GeneratedImage, Generation, ImageSource, ImageType
from .providers import ProviderError
from .storage import store_image

logger = logging.getLogger(__name__)

MAX_DESCRIPTION_CHARS = 500
MAX_URL_CHARS = 2000
IMPORT_TIMEOUT_S = 30.0
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UploadError(Exception):
    """Not added; `code` is from the error taxonomy, `message` says what to do."""

    def __init__(self, message: str, *, code: str = "validation_error", field: str = "") -> None:
        super().__init__(message)
        self.message, self.code, self.field = message, code, field


def _clean_text(text: str, limit: int) -> str:
    text = unicodedata.normalize("NFKC", CONTROL.sub(" ", text or ""))
    return " ".join(text.split())[:limit]


def _check_type(image_type: str) -> str:
    image_type = (image_type or "").strip().lower()
    if image_type not in ImageType.values:
        raise UploadError(f"Unknown type {image_type!r}; choose scene, character, location, item or none.",
                          field="image_type")
    return image_type


def add_external_image(owner, data: bytes, *, source: str, description: str, image_type: str = "",
                       parameters: dict | None = None) -> GeneratedImage:
    """Sanitise, store and record one outside image; UploadError (image_invalid / image_too_large) if unsafe."""
    image_type = _check_type(image_type)
    try:
        clean = imaging.sanitize(data)
    except imaging.ImageInvalid as e:
        raise UploadError(str(e).replace("The provider returned", "This is"), code=e.code, field="file") from None
    file, thumb = store_image(owner.pk, clean)
    now = timezone.now()
    with transaction.atomic():
        generation = Generation.objects.create(
            owner=owner, provider=source, prompt=description, parameters=parameters or {},
            status=Generation.Status.SUCCEEDED, started_at=now, finished_at=now,
        )
        return GeneratedImage.objects.create(
            generation=generation, owner=owner, index=0, file=file, thumbnail=thumb, sha256=clean.sha256,
            width=clean.width, height=clean.height, mime_type=clean.mime_type, bytes=len(clean.data),
            source=source, image_type=image_type,
        )


def image_upload(owner, upload, *, description: str = "", image_type: str = "") -> GeneratedImage:
    """`upload`: a Django UploadedFile. Refused by size before a byte is read."""
    if upload is None:
        raise UploadError("Choose an image file to upload.", field="file")
    limit = imaging.MAX_IMAGE_BYTES
    if upload.size is None or upload.size > limit:
        raise UploadError(f"The file is too large ({(upload.size or 0) // 1024} KiB; the limit is {limit // 1024} KiB).",
                          code="image_too_large", field="file")
    data = upload.read(limit + 1)
    name = _clean_text((upload.name or "").replace("\\", "/").rsplit("/", 1)[-1], 200)
    description = _clean_text(description, MAX_DESCRIPTION_CHARS) or name or "Uploaded image"
    return add_external_image(owner, data, source=ImageSource.UPLOAD, description=description,
                              image_type=image_type, parameters={"filename": name} if name else {})


def image_import(owner, url: str, *, description: str = "", image_type: str = "") -> GeneratedImage:
    from imagegen_site import http

    url = (url or "").strip()
    if not url:
        raise UploadError("Paste the address of an image (https://…).", field="url")
    if len(url) > MAX_URL_CHARS:
        raise UploadError(f"The address is too long ({MAX_URL_CHARS} characters at most).", field="url")
    image_type = _check_type(image_type)
    try:
        resp = http.download(url, max_bytes=imaging.MAX_IMAGE_BYTES, timeout_total=IMPORT_TIMEOUT_S)
    except ProviderError as e:
        logger.info("import refused for user %s: %s", owner.pk, e.code)
        raise UploadError(_import_message(e), code=e.code, field="url") from None
    where = http._where(url)  # scheme, host and path: a query string may carry someone's token
    description = _clean_text(description, MAX_DESCRIPTION_CHARS) or f"Imported from {where}"[:MAX_DESCRIPTION_CHARS]
    return add_external_image(owner, resp.content, source=ImageSource.IMPORT, description=description,
                              image_type=image_type, parameters={"source_url": where})


def _import_message(error: ProviderError) -> str:
    if error.code == "url_forbidden":
        return f"{error.message}. Only public https addresses can be imported."
    if error.code == "timeout":
        return "The address did not answer in time."
    return error.message
