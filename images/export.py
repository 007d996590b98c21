"""Download an image as PNG, JPEG or WEBP, at its own size or a smaller one, with provenance kept (seed 004).

Query string of the download views: `as` (original, png, jpeg/jpg, webp), `quality` (1–100; JPEG and WEBP, ignored
for PNG, default 90), `max_side` (16–4096: the longest side in pixels; never enlarges). Anything else is refused
with a clear message (ExportError → 400 validation_error).

Nothing is re-encoded that need not be: the stored format at its own size gets metadata spliced in (metadata.py);
PNG at its own size is a lossless conversion. Resizing or changing to a lossy format re-encodes once, here.
Metadata per format: PNG text chunks, JPEG EXIF + XMP, WEBP EXIF + XMP (metadata.py).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from .metadata import embed_jpeg, embed_png, exif_bytes, png_with_metadata, with_metadata, xmp_packet

FORMATS = {  # the name in the query string: (Pillow format, content type, file extension)
    "png": ("PNG", "image/png", "png"),
    "jpeg": ("JPEG", "image/jpeg", "jpg"),
    "jpg": ("JPEG", "image/jpeg", "jpg"),
    "webp": ("WEBP", "image/webp", "webp"),
}
MIME_TO_FORMAT = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}
DEFAULT_QUALITY = 90
MIN_SIDE, MAX_SIDE = 16, 4096
SIZE_CHOICES = (2048, 1024, 512)  # what the detail page offers beside the original size


class ExportError(ValueError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message, self.field = message, field


@dataclass(frozen=True)
class ExportOptions:
    fmt: str | None = None  # None: the stored format
    quality: int | None = None
    max_side: int | None = None

    @classmethod
    def from_query(cls, query) -> "ExportOptions":
        raw_as = (query.get("as") or "").strip().lower()
        if raw_as in ("", "original"):
            fmt = None
        elif raw_as in FORMATS:
            fmt = "jpeg" if raw_as == "jpg" else raw_as
        else:
            raise ExportError(f"Unknown format {raw_as[:20]!r}: choose original, png, jpeg or webp.", "as")
        return cls(fmt=fmt, quality=_int_param(query, "quality", 1, 100, "a whole number from 1 to 100"),
                   max_side=_int_param(query, "max_side", MIN_SIDE, MAX_SIDE,
                                       f"a whole number of pixels from {MIN_SIDE} to {MAX_SIDE}"))

    @property
    def is_plain(self) -> bool:
        """The stored file with metadata, as before this module: no conversion asked for."""
        return self.fmt is None and self.quality is None and self.max_side is None


def _int_param(query, name: str, low: int, high: int, wanted: str) -> int | None:
    raw = query.get(name)
    if raw in (None, ""):
        return None
    raw = str(raw).strip()
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ExportError(f"{name} must be {wanted}; got {raw[:20]!r}.", name)
    return int(raw)


@dataclass(frozen=True)
class Exported:
    data: bytes
    content_type: str
    ext: str
    width: int
    height: int


def export_image(data: bytes, mime_type: str, meta: dict, options: ExportOptions) -> Exported:
    """The bytes to download for a stored image (`data`, already sanitised) with provenance `meta` embedded."""
    source_fmt = MIME_TO_FORMAT[mime_type]
    target = options.fmt or source_fmt
    pil_format, content_type, ext = FORMATS[target]
    img = Image.open(io.BytesIO(data))
    width, height = img.size
    resize = options.max_side is not None and max(width, height) > options.max_side
    lossy = target in ("jpeg", "webp")
    if not resize and target == source_fmt and (options.quality is None or not lossy):
        return Exported(with_metadata(data, mime_type, meta), content_type, ext, width, height)
    if not resize and target == "png":
        return Exported(png_with_metadata(data, mime_type, meta), content_type, ext, width, height)

    img.load()
    if resize:
        img.thumbnail((options.max_side, options.max_side), Image.Resampling.LANCZOS)
        meta = {**meta, "width": img.width, "height": img.height, "original_size": f"{width}x{height}"}
    quality = options.quality or DEFAULT_QUALITY
    out = io.BytesIO()
    if target == "jpeg":
        _flatten(img).save(out, format="JPEG", quality=quality, optimize=True)
        body = embed_jpeg(out.getvalue(), meta)
    elif target == "webp":
        if img.mode not in ("RGB", "RGBA"):
            img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
        img.save(out, format="WEBP", quality=quality, exif=exif_bytes(meta), xmp=xmp_packet(meta))
        body = out.getvalue()
    else:
        if img.mode not in ("RGB", "RGBA", "L", "LA"):
            img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
        img.save(out, format=pil_format)
        body = embed_png(out.getvalue(), meta)
    return Exported(body, content_type, ext, img.width, img.height)


def _flatten(img: Image.Image) -> Image.Image:
    """JPEG has no transparency: put transparent pixels on white rather than black."""
    if img.mode in ("RGBA", "LA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB") if img.mode != "RGB" else img


def download_filename(stem: str, exported: Exported, options: ExportOptions) -> str:
    suffix = f"_{max(exported.width, exported.height)}px" if options.max_side else ""
    return f"{stem}{suffix}.{exported.ext}"
