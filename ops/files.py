"""Walking and checking stored files through Django's storage API, so local disk and S3 behave the same."""

from __future__ import annotations

import hashlib

from django.core.files.storage import Storage, default_storage
from django.db.models import Q

from images.storage import walk  # noqa: F401 - the one walker (one flat listing on S3); ops callers use files.walk

CHUNK = 1024 * 1024


def sha256_of(name: str, storage: Storage | None = None) -> tuple[str, int]:
    storage = storage or default_storage
    digest, size = hashlib.sha256(), 0
    with storage.open(name, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def is_referenced(name: str) -> bool:
    """Whether any row still points at this stored file (an image, its thumbnail, an edit's mask, or a data export)."""
    from images.masks import referenced_masks
    from images.models import GeneratedImage

    from .models import DataExport

    return (
        GeneratedImage.objects.filter(Q(file=name) | Q(thumbnail=name)).exists()
        or DataExport.objects.filter(file=name).exists()
        or bool(referenced_masks(name))
    )
