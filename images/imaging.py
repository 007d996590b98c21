"""Every image from a provider is opened here, checked, and re-encoded before it is stored.

Only PNG, JPEG and WEBP, one frame, at most IMAGEGEN_MAX_IMAGE_PIXELS; the decompression-bomb warning is an error.
Re-encoding drops whatever rode along in the file (text chunks, EXIF, ICC, polyglot tails).

The size checks run on the header, before a single pixel is decoded (SECURITY.md T26): a 30000×30000 1-bit PNG is a
few KB on the wire and 112 MB once decoded.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field

from django.conf import settings
from PIL import Image, UnidentifiedImageError

FORMATS = {"PNG": ("image/png", "png"), "JPEG": ("image/jpeg", "jpg"), "WEBP": ("image/webp", "webp")}


# zlib level for the re-encoded PNG: level 1 is ~8× faster than Pillow's default 6 on a 1024² picture (70 ms vs
# 560 ms measured) for files ~15% larger; the re-encode was ~90% of a worker's time per image (bench P2/P4).
PNG_COMPRESS_LEVEL = 1

# Byte cap on the encoded input (SECURITY.md: decoded image 20 MiB) and the longest side accepted (4096×4096).
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_SIDE = 4096


class ImageInvalid(Exception):
    """Not a safe raster image. `code` is the error taxonomy's code stored on the failed generation."""

    code = "image_invalid"


class ImageTooLarge(ImageInvalid):
    """Over the pixel, side or byte cap; raised before the pixels are decoded."""

    code = "image_too_large"


class _Bitmap:
    """The pixels sanitize() already decoded, handed once to make_thumbnail() so it need not decode the file again."""

    def __init__(self, image: Image.Image | None = None) -> None:
        self._image = image

    def take(self) -> Image.Image | None:
        image, self._image = self._image, None  # released after one use: no full bitmap lingers in the worker
        return image


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    mime_type: str
    ext: str
    width: int
    height: int
    sha256: str
    bitmap: _Bitmap = field(default_factory=_Bitmap, repr=False, compare=False)

    def release_bitmap(self) -> None:
        self.bitmap.take()


def sanitize(data: bytes) -> CleanImage:
    if not data:
        raise ImageInvalid("The provider returned an empty image.")
    max_bytes = getattr(settings, "IMAGEGEN_MAX_IMAGE_BYTES", MAX_IMAGE_BYTES)
    if len(data) > max_bytes:
        raise ImageTooLarge(f"The image file is too large ({len(data) // 1024} KiB; the limit is {max_bytes // 1024} KiB).")
    max_pixels = settings.IMAGEGEN_MAX_IMAGE_PIXELS
    max_side = getattr(settings, "IMAGEGEN_MAX_IMAGE_SIDE", MAX_IMAGE_SIDE)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=list(FORMATS))
            # Image.open read only the header: refuse by size before load() allocates the pixels.
            if img.width * img.height > max_pixels or max(img.width, img.height) > max_side:
                raise ImageTooLarge(f"The image is too large ({img.width}×{img.height}).")
            if getattr(img, "n_frames", 1) != 1:
                raise ImageInvalid("Animated images are not accepted.")
            fmt = img.format
            if fmt not in FORMATS:  # e.g. a multi-picture JPEG (MPO) opened through the JPEG plugin
                raise ImageInvalid(f"Not a PNG, JPEG or WEBP image ({fmt}).")
            img.load()
    except ImageInvalid:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        # Pillow's own bomb check (it fires inside Image.open for the largest headers).
        raise ImageTooLarge("The image is too large.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as e:
        raise ImageInvalid(f"Not a PNG, JPEG or WEBP image ({type(e).__name__}).") from None

    mime_type, ext = FORMATS[fmt]
    if fmt == "JPEG" and img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    elif fmt != "JPEG" and (img.mode not in ("RGB", "RGBA", "L", "LA") or "transparency" in img.info):
        img = img.convert("RGBA" if "A" in img.getbands() or "transparency" in img.info else "RGB")
    # Nothing from the input's metadata (text, EXIF, ICC, XMP) may reach the file we write: some encoders copy
    # im.info when no override is given.
    img.info = {}
    out = io.BytesIO()
    if fmt == "JPEG":
        img.save(out, format="JPEG", quality=95)
    elif fmt == "WEBP":
        img.save(out, format="WEBP", quality=95)
    else:
        img.save(out, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    clean = out.getvalue()
    return CleanImage(clean, mime_type, ext, img.width, img.height, hashlib.sha256(clean).hexdigest(), _Bitmap(img))


def make_thumbnail(clean: CleanImage) -> bytes:
    px = settings.IMAGEGEN_THUMBNAIL_PX
    # The pixels sanitize() encoded, when it just ran: no second decode. take() hands them over, so resizing them in
    # place is safe. A CleanImage built from stored bytes (rebuild_thumbnail) decodes the file.
    img = clean.bitmap.take()
    if img is None:
        img = Image.open(io.BytesIO(clean.data))
    img.thumbnail((px, px))
    if img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    out = io.BytesIO()
    img.save(out, format="WEBP", quality=80)
    return out.getvalue()
