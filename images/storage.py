"""Content-addressed image files through Django's storage API (local disk or S3).

Names derive from the bytes, so the same image is stored once and a re-run after a crash writes the same names.
Nothing a provider or a user sends (file names, prompts, URLs) takes part in a name (SECURITY.md T30): only the
owner's id, the sha256 of the re-encoded bytes, and an extension from imaging.FORMATS.

Layout of new writes (IMAGE_NAME, THUMBNAIL_NAME; make_name() refuses anything else):
    images/<owner id>/<sha256[:2]>/<sha256>.<png|webp|jpg>      the original (JPEG originals stay JPEG: .jpg)
    images/<owner id>/thumbs/<sha256[:2]>/<sha256>.webp         its thumbnail, named by the original's digest
    images/<owner id>/masks/<sha256[:2]>/<sha256>.png           an edit's painted area (images/masks.py MASK_NAME)
The two-hex shard keeps a folder to ~1/256 of an owner's files. Live previews follow the same rule in their own
tree (images/previews.py PREVIEW_NAME: previews/<owner id>/gen_<generation id>_<sha256>.webp).

Rows made before this layout keep their names (LEGACY_IMAGE_NAME, LEGACY_THUMBNAIL_NAME:
images/<owner>/img_<16 hex>.<ext> and images/<owner>/thumbs/img_<16 hex>.webp): the name is stored in the row, so
old files keep serving, deleting, sweeping and backing up; walk() lists both layouts. The same bytes stored again
get a new-layout name (a second file until the old row goes), never a legacy one.
"""

import hashlib
import re
from collections.abc import Iterator

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from .imaging import CleanImage, make_thumbnail

# Use with fullmatch: `$` alone would also accept a trailing newline. ASCII: `\d` would otherwise take any digit, "١".
IMAGE_NAME = re.compile(r"^images/\d+/[0-9a-f]{2}/[0-9a-f]{64}\.(png|webp|jpg)$", re.ASCII)
THUMBNAIL_NAME = re.compile(r"^images/\d+/thumbs/[0-9a-f]{2}/[0-9a-f]{64}\.webp$", re.ASCII)
LEGACY_IMAGE_NAME = re.compile(r"^images/\d+/img_[0-9a-f]{16}\.(png|webp|jpg)$", re.ASCII)
LEGACY_THUMBNAIL_NAME = re.compile(r"^images/\d+/thumbs/img_[0-9a-f]{16}\.webp$", re.ASCII)
# A mask is read only by its owner's worker, never served; no row lists it, so the orphan sweep removes it once it is
# older than IMAGEGEN_ORPHAN_FILE_AGE_S (a mask is needed only while its edit is queued or retried).
MASK_NAME = re.compile(r"^images/\d+/masks/[0-9a-f]{2}/[0-9a-f]{64}\.png$", re.ASCII)
_SHA256 = re.compile(r"[0-9a-f]{64}")


def make_name(owner_id: int, sha256: str, ext: str, *, thumbnail: bool = False) -> str:
    """The storage name for these bytes; SuspiciousFileOperation unless it is exactly one of our two patterns."""
    if not isinstance(owner_id, int) or isinstance(owner_id, bool) or owner_id < 0 or not _SHA256.fullmatch(sha256):
        raise SuspiciousFileOperation("a stored name needs an owner id and a sha256 digest")
    folder = f"images/{owner_id}/thumbs" if thumbnail else f"images/{owner_id}"
    name = f"{folder}/{sha256[:2]}/{sha256}.{ext}"
    if not (THUMBNAIL_NAME if thumbnail else IMAGE_NAME).fullmatch(name):
        raise SuspiciousFileOperation(f"refused to make the stored name {name!r}")
    return name


def mask_name(owner_id: int, sha256: str) -> str:
    """The storage name of a canonical mask PNG (images/masks.py) with this digest, in the owner's folder."""
    folder = make_name(owner_id, sha256, "png").rpartition("/")[0].rpartition("/")[0]  # the same owner/digest checks
    name = f"{folder}/masks/{sha256[:2]}/{sha256}.png"
    if not MASK_NAME.fullmatch(name):
        raise SuspiciousFileOperation(f"refused to make the stored name {name!r}")
    return name


def is_own_mask_name(name: str, owner_id: int) -> bool:
    return isinstance(name, str) and name.startswith(f"images/{owner_id}/") and bool(MASK_NAME.fullmatch(name))


def image_name(owner_id: int, clean: CleanImage) -> str:
    return make_name(owner_id, clean.sha256, clean.ext)


def thumbnail_name(owner_id: int, clean: CleanImage) -> str:
    return make_name(owner_id, clean.sha256, "webp", thumbnail=True)


def is_stored_name(name: str) -> bool:
    """One of the four patterns above: the only names the file routes read (anything else is a 404 unread)."""
    return any(p.fullmatch(name) for p in (IMAGE_NAME, THUMBNAIL_NAME, LEGACY_IMAGE_NAME, LEGACY_THUMBNAIL_NAME))


def is_own_image_name(name: str, owner_id: int) -> bool:
    """An original's name of either layout in this owner's folder (neither pattern admits `..`, `\\` or NUL)."""
    return name.startswith(f"images/{owner_id}/") and bool(
        IMAGE_NAME.fullmatch(name) or LEGACY_IMAGE_NAME.fullmatch(name))


def is_own_thumbnail_name(name: str, owner_id: int) -> bool:
    """A thumbnail name of either layout in this owner's folder."""
    return name.startswith(f"images/{owner_id}/") and bool(
        THUMBNAIL_NAME.fullmatch(name) or LEGACY_THUMBNAIL_NAME.fullmatch(name))


def walk(prefix: str = "images", storage=None) -> Iterator[str]:
    """Every stored file name under `prefix` (a folder, no trailing slash; "" for everything), both layouts, at any
    depth. The one walker: the sweeper, media_orphans, backups and account export/deletion all use it.

    On S3 one flat listing of the prefix: walking folder by folder would cost a LIST request per shard, up to 513
    per owner. Elsewhere (local disk) folder by folder through listdir.
    """
    storage = storage or default_storage
    base = f"{prefix}/" if prefix else ""
    bucket = getattr(storage, "bucket", None) if hasattr(storage, "bucket_name") else None
    if bucket is not None:
        location = (getattr(storage, "location", "") or "").strip("/")
        root = f"{location}/" if location else ""
        for obj in bucket.objects.filter(Prefix=f"{root}{base}"):
            if not obj.key.endswith("/"):  # a "folder" placeholder some S3 tools create
                yield obj.key[len(root):]
        return
    try:
        folders, files = storage.listdir(prefix)
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in sorted(files):
        yield f"{base}{name}"
    for folder in sorted(folders):
        yield from walk(f"{base}{folder}", storage)


def _stored_size(name: str) -> int | None:
    try:
        return default_storage.size(name)
    except FileNotFoundError:
        return None


def _save_as(name: str, data: bytes) -> None:
    """Write `data` under exactly `name`. When a concurrent writer got there first the storage picks another name
    (local disk: …_AbCd123.png); that copy is dropped, since the same name means the same bytes."""
    saved = default_storage.save(name, ContentFile(data))
    if saved != name:
        default_storage.delete(saved)


def store_image(owner_id: int, clean: CleanImage) -> tuple[str, str]:
    """Save the image and its thumbnail unless they exist already; return both storage names."""
    name, thumb = image_name(owner_id, clean), thumbnail_name(owner_id, clean)
    size = _stored_size(name)
    if size != len(clean.data):
        if size is not None:  # cut short by a crash mid-write (local disk writes in place): write it again
            default_storage.delete(name)
        _save_as(name, clean.data)
    if not default_storage.exists(thumb):
        _save_as(thumb, make_thumbnail(clean))
    clean.release_bitmap()  # the decoded pixels are not needed past this point (see imaging.make_thumbnail)
    return name, thumb


def store_mask(owner_id: int, png: bytes) -> str:
    """Save a canonical mask (images/masks.py) unless it exists already; return its storage name."""
    name = mask_name(owner_id, hashlib.sha256(png).hexdigest())
    if _stored_size(name) != len(png):
        default_storage.delete(name)  # cut short by a crash mid-write, or absent (deleting nothing is no error)
        _save_as(name, png)
    return name


def rebuild_thumbnail(image) -> str:
    """Make a GeneratedImage's thumbnail again from its stored original (the admin's "re-run thumbnails", run by a
    task on the worker: images/tasks.py); return the thumbnail's name.

    Only the owner's own files: the original is read from, and the thumbnail written to, images/<owner>/ (a row
    naming anything else is refused with SuspiciousFileOperation, or gets its own thumbnail name). A thumbnail name
    of either layout is kept (rebuilt in place); any other gets a new-layout one. Idempotent: a
    thumbnail that already has the right bytes is not written again, so a task delivered twice changes nothing; rows
    sharing the same bytes share the thumbnail. Raises FileNotFoundError when the original is gone.
    """
    from .imaging import FORMATS
    from .models import GeneratedImage

    if not is_own_image_name(image.file, image.owner_id):
        raise SuspiciousFileOperation(f"image {image.pk}: its original is not one of its owner's stored names")
    with default_storage.open(image.file, "rb") as handle:
        data = handle.read()
    ext = next((e for mime, e in FORMATS.values() if mime == image.mime_type), "png")
    clean = CleanImage(data, image.mime_type, ext, image.width, image.height, image.sha256)
    name = image.thumbnail
    if not is_own_thumbnail_name(name, image.owner_id):
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
