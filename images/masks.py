"""An edit's painted area (a mask): checked, made canonical and stored for the worker (images/services.py edit_mask
reads it back).

The gallery's Edit form sends what the person painted as a PNG (static/app/mask_painter.js: painted pixels opaque,
the rest transparent); a PNG without transparency counts its light pixels as painted. Either becomes the one form
every provider converts from: an L-mode PNG the size of the source image, 255 = change, 0 = keep. The name it is
stored under is built from the owner's id and the canonical bytes' digest (images/storage.py), never from the upload.
"""

from __future__ import annotations

import io
import warnings

from django.conf import settings
from PIL import Image, UnidentifiedImageError

from .imaging import MAX_IMAGE_SIDE
from .services import GenerationRequestError
from .storage import store_mask

MAX_MASK_BYTES = 4 * 1024 * 1024  # OpenAI's own limit for a mask file
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _refuse(message: str, why: str) -> GenerationRequestError:
    return GenerationRequestError(message, fields={"mask": why})


def canonical_mask(data: bytes, size: tuple[int, int]) -> bytes:
    """The canonical mask PNG for an uploaded one, scaled to `size` (the source image's) if it differs; else
    GenerationRequestError with a message for the person."""
    if len(data) > MAX_MASK_BYTES:
        raise _refuse(f"The mask is too large ({len(data) // 1024} KiB; the limit is {MAX_MASK_BYTES // 1024} KiB).",
                      "too large")
    if not data.startswith(PNG_SIGNATURE):
        raise _refuse("The mask must be a PNG image.", "not a PNG")
    max_side = getattr(settings, "IMAGEGEN_MAX_IMAGE_SIDE", MAX_IMAGE_SIDE)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=["PNG"])
            # The header only so far: refuse by size before load() allocates the pixels (as imaging.sanitize does).
            if img.width * img.height > settings.IMAGEGEN_MAX_IMAGE_PIXELS or max(img.size) > max_side:
                raise _refuse(f"The mask is too large ({img.width}×{img.height}).", "too large")
            if getattr(img, "n_frames", 1) != 1:
                raise _refuse("The mask must be a single picture, not an animation.", "animated")
            img.load()
    except GenerationRequestError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise _refuse("The mask is too large.", "too large") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise _refuse("The mask is not a readable PNG image.", "unreadable") from None
    painted = _painted(img)
    if painted.size != size:
        painted = painted.resize(size, Image.Resampling.BILINEAR)
    # Two values only: providers differ in how they read grey, and a soft brush edge is the provider's business.
    painted = painted.point(lambda v: 255 if v >= 128 else 0)
    if painted.getbbox() is None:
        raise _refuse("The mask is empty: paint the area to change, or clear it to edit the whole image.", "empty")
    out = io.BytesIO()
    painted.save(out, format="PNG")  # no timestamps: the same painting gives the same bytes, hence the same name
    return out.getvalue()


def _painted(img: Image.Image) -> Image.Image:
    """255 where the person painted: the alpha channel when there is one (a canvas), else the lightness."""
    if "A" in img.getbands() or "transparency" in img.info:
        return img.convert("RGBA").getchannel("A")
    return img.convert("L")


def save_mask(image, upload) -> str:
    """Check an uploaded mask for `image` (a GeneratedImage), store its canonical form in the owner's folder and
    return the storage name, for the edit's parameters["mask"]."""
    if upload.size > MAX_MASK_BYTES:  # refused before reading it into memory
        raise _refuse(f"The mask is too large ({upload.size // 1024} KiB; the limit is {MAX_MASK_BYTES // 1024} KiB).",
                      "too large")
    data = upload.read(MAX_MASK_BYTES + 1)
    return store_mask(image.owner_id, canonical_mask(data, (image.width, image.height)))


def referenced_masks(name: str | None = None) -> set[str]:
    """Stored masks that a generation names (parameters["mask"]): an edit's provenance, kept like its images, so the
    orphan sweep, `media_orphans` and `check_jobs` never count them as unreferenced. `name`: only that one."""
    from .models import Generation

    rows = Generation.objects.filter(parameters__has_key="mask")
    if name is not None:
        rows = rows.filter(parameters__mask=name)
    return {mask for mask in rows.values_list("parameters__mask", flat=True) if isinstance(mask, str) and mask}
