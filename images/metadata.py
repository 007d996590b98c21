"""Provenance embedded in downloaded files: prompt, refined prompt, model, provider, seed, parameters, created.

Stored originals stay exactly as the safety re-encode left them (metadata-free, see imaging.py); metadata is added
only to the copy a user downloads:
- PNG: iTXt chunks spliced in before IEND, so the pixels are not re-encoded. An A1111-style `parameters` chunk makes
  the file readable by "PNG Info"-like tools; `imagegen` holds the full JSON.
- JPEG: EXIF and XMP APP1 segments spliced in after SOI (no re-encode).
- WEBP: Pillow re-encodes with `exif=` and `xmp=` (lossless stays lossless, lossy at the quality imaging.py uses).
EXIF text is ASCII by specification, so non-ASCII characters are replaced there; XMP carries the exact UTF-8 JSON.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

from PIL import Image

if TYPE_CHECKING:
    from .models import GeneratedImage

SOFTWARE = "imagegen"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
XMP_APP1_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
EXIF_IMAGE_DESCRIPTION, EXIF_SOFTWARE, EXIF_DATETIME = 0x010E, 0x0131, 0x0132


def provenance(image: GeneratedImage) -> dict:
    generation = image.generation
    return {
        "prompt": generation.prompt,
        "refined_prompt": generation.refined_prompt,
        "revised_prompt": image.revised_prompt,
        "negative_prompt": generation.negative_prompt,
        "provider": generation.provider,
        "model": generation.model,
        "seed": image.seed,
        "parameters": generation.parameters,
        "edit_of": generation.edit_of_id,  # the image this one was edited from (null: none, or deleted since)
        "width": image.width,
        "height": image.height,
        "created": image.created.isoformat(),
        "software": SOFTWARE,
    }


def a1111_infotext(meta: dict) -> str:
    """The de-facto `parameters` text of AUTOMATIC1111 ("PNG Info"), so other tools can read the prompt back."""
    lines = [meta["revised_prompt"] or meta["refined_prompt"] or meta["prompt"]]
    if meta["negative_prompt"]:
        lines.append(f"Negative prompt: {meta['negative_prompt']}")
    fields = [("Seed", meta["seed"]), ("Size", f"{meta['width']}x{meta['height']}"), ("Model", meta["model"]),
              ("Provider", meta["provider"]), ("Edit of image", meta.get("edit_of"))]
    lines.append(", ".join(f"{k}: {v}" for k, v in fields if v not in (None, "")))
    return "\n".join(lines)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _itxt(key: str, text: str) -> bytes:
    # keyword, null, compression flag 0, method 0, empty language tag, null, empty translated keyword, null, text
    return _png_chunk(b"iTXt", key.encode("latin-1") + b"\x00\x00\x00\x00\x00" + text.encode("utf-8"))


def png_text_chunks(meta: dict) -> bytes:
    return b"".join(
        [
            _itxt("parameters", a1111_infotext(meta)),
            _itxt("Description", meta["revised_prompt"] or meta["refined_prompt"] or meta["prompt"]),
            _itxt("Software", SOFTWARE),
            _itxt("Creation Time", meta["created"]),
            _itxt("imagegen", json.dumps(meta, ensure_ascii=False, sort_keys=True)),
        ]
    )


def embed_png(data: bytes, meta: dict) -> bytes:
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG")
    iend = data.rfind(b"IEND") - 4  # the length field precedes the chunk type
    if iend < len(PNG_SIGNATURE):
        raise ValueError("PNG without IEND")
    return data[:iend] + png_text_chunks(meta) + data[iend:]


def exif_bytes(meta: dict) -> bytes:
    exif = Image.Exif()
    description = meta["revised_prompt"] or meta["refined_prompt"] or meta["prompt"]
    exif[EXIF_IMAGE_DESCRIPTION] = description.encode("ascii", "replace").decode("ascii")
    exif[EXIF_SOFTWARE] = SOFTWARE
    exif[EXIF_DATETIME] = meta["created"][:19].replace("-", ":").replace("T", " ")
    return exif.tobytes()  # starts with b"Exif\0\0", as the APP1 segment and Pillow's exif= both expect


def xmp_packet(meta: dict) -> bytes:
    description = meta["revised_prompt"] or meta["refined_prompt"] or meta["prompt"]
    payload = json.dumps(meta, ensure_ascii=False, sort_keys=True)
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:imagegen="https://imagegen.invalid/ns/1.0/" '
        f"xmp:CreatorTool={quoteattr(SOFTWARE)} xmp:CreateDate={quoteattr(meta['created'])} "
        f"imagegen:provenance={quoteattr(payload)}>"
        f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{escape(description)}</rdf:li></rdf:Alt></dc:description>'
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode("utf-8")


def _jpeg_app1(body: bytes) -> bytes:
    if len(body) + 2 > 0xFFFF:
        raise ValueError("metadata too large for one JPEG segment")
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def embed_jpeg(data: bytes, meta: dict) -> bytes:
    if not data.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG")
    xmp = xmp_packet(meta)
    if len(xmp) > 60_000:  # a 4,000-character prompt fits; anything larger keeps EXIF only
        xmp = b""
    segments = _jpeg_app1(exif_bytes(meta)) + (_jpeg_app1(XMP_APP1_HEADER + xmp) if xmp else b"")
    return data[:2] + segments + data[2:]


def embed_webp(data: bytes, meta: dict) -> bytes:
    img = Image.open(io.BytesIO(data))
    lossless = data[12:16] == b"VP8L"
    out = io.BytesIO()
    img.save(out, format="WEBP", lossless=lossless, quality=100 if lossless else 95,
             exif=exif_bytes(meta), xmp=xmp_packet(meta))
    return out.getvalue()


def to_png(data: bytes) -> bytes:
    img = Image.open(io.BytesIO(data))
    if img.mode not in ("RGB", "RGBA", "L", "LA"):
        img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def with_metadata(data: bytes, mime_type: str, meta: dict) -> bytes:
    """The bytes of a stored image with provenance embedded, in the same format."""
    if mime_type == "image/png":
        return embed_png(data, meta)
    if mime_type == "image/jpeg":
        return embed_jpeg(data, meta)
    if mime_type == "image/webp":
        return embed_webp(data, meta)
    raise ValueError(f"unsupported type {mime_type}")


def png_with_metadata(data: bytes, mime_type: str, meta: dict) -> bytes:
    """A PNG copy with provenance in text chunks, whatever the stored format (JPEG/WEBP convert losslessly)."""
    return embed_png(data if mime_type == "image/png" else to_png(data), meta)
