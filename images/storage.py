"""Content-addressed image files through Django's storage API (local disk or S3).

Names derive from the bytes, so the same image is stored once and a re-run after a crash writes the same names.
"""

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
    """Make a GeneratedImage's thumbnail again from its stored original (the admin's "re-run thumbnails").

    Raises FileNotFoundError when the original is gone. Rows sharing the same bytes share the thumbnail too.
    """
    from .imaging import FORMATS
    from .models import GeneratedImage

    with default_storage.open(image.file, "rb") as handle:
        data = handle.read()
    ext = next((e for mime, e in FORMATS.values() if mime == image.mime_type), "png")
    clean = CleanImage(data, image.mime_type, ext, image.width, image.height, image.sha256)
    name = image.thumbnail or thumbnail_name(image.owner_id, clean)
    default_storage.delete(name)  # replace in place: the same name keeps every row that uses it valid
    saved = default_storage.save(name, ContentFile(make_thumbnail(clean)))
    if saved != image.thumbnail:
        GeneratedImage.objects.filter(pk=image.pk).update(thumbnail=saved)
        image.thumbnail = saved
    return saved
