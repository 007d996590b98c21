"""Content-addressed image files through Django's storage API (local disk or S3).

Names derive from the bytes, so the same image is stored once and a re-run after a crash writes the same names.
"""

import posixpath

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from .imaging import CleanImage, make_thumbnail


def image_name(owner_id: int, clean: CleanImage) -> str:
    return f"images/{owner_id}/img_{clean.sha256[:16]}.{clean.ext}"


def thumbnail_name(owner_id: int, clean: CleanImage) -> str:
    return f"images/{owner_id}/thumbs/img_{clean.sha256[:16]}.webp"


def store_image(owner_id: int, clean: CleanImage) -> tuple[str, str]:
    """Save the image and its thumbnail unless they exist already; return both storage names."""
    name, thumb = image_name(owner_id, clean), thumbnail_name(owner_id, clean)
    if not default_storage.exists(name):
        default_storage.save(name, ContentFile(clean.data))
    if not default_storage.exists(thumb):
        default_storage.save(thumb, ContentFile(make_thumbnail(clean)))
    clean.release_bitmap()  # the decoded pixels are not needed past this point (see imaging.make_thumbnail)
    return name, thumb


def rebuild_thumbnail(image) -> str:
    """Make a GeneratedImage's thumbnail again from its stored original (the admin's "re-run thumbnails", run by a
    task on the worker: images/tasks.py); return the thumbnail's name.

    Only the owner's own files: the original is read from, and the thumbnail written to, images/<owner>/ (a row
    naming anything else is refused with SuspiciousFileOperation, or gets its own thumbnail name). Idempotent: a
    thumbnail that already has the right bytes is not written again, so a task delivered twice changes nothing; rows
    sharing the same bytes share the thumbnail. Raises FileNotFoundError when the original is gone.
    """
    from .imaging import FORMATS
    from .models import GeneratedImage

    folder = f"images/{image.owner_id}/"
    if not image.file.startswith(folder) or posixpath.normpath(image.file) != image.file:
        raise SuspiciousFileOperation(f"image {image.pk}: its original is not in its owner's folder")
    with default_storage.open(image.file, "rb") as handle:
        data = handle.read()
    ext = next((e for mime, e in FORMATS.values() if mime == image.mime_type), "png")
    clean = CleanImage(data, image.mime_type, ext, image.width, image.height, image.sha256)
    name = image.thumbnail
    if not name.startswith(f"{folder}thumbs/") or posixpath.normpath(name) != name:
        name = thumbnail_name(image.owner_id, clean)
    thumb = make_thumbnail(clean)
    if not _has_bytes(name, thumb):
        default_storage.delete(name)  # replace in place: the same name keeps every row that uses it valid
        saved = default_storage.save(name, ContentFile(thumb))
        if saved != name:  # a concurrent rebuild saved the same bytes under `name` first: keep that one
            default_storage.delete(saved)
    if name != image.thumbnail:
        GeneratedImage.objects.filter(pk=image.pk).update(thumbnail=name)
        image.thumbnail = name
    return name


def _has_bytes(name: str, data: bytes) -> bool:
    try:
        with default_storage.open(name, "rb") as handle:
            return handle.read() == data
    except FileNotFoundError:
        return False
