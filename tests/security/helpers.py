"""Hand-built hostile files for the security tests (built byte by byte: Pillow would refuse to make most of them)."""

import io
import struct
import zlib

from PIL import Image


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int, height: int) -> bytes:
    """A complete, valid 1-bit greyscale PNG of all-black rows: a few hundred KB that decode to width×height/8 bytes."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed pixels
    z = zlib.compressobj(9)
    idat = bytearray()
    block = row * 256
    for _ in range(height // 256):
        idat += z.compress(block)
    idat += z.compress(row * (height % 256)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", bytes(idat)) + _chunk(b"IEND", b"")


def gif_header(width: int, height: int) -> bytes:
    """A GIF whose logical screen and single frame claim width×height, with a tiny LZW body."""
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return screen + frame + b"\x3b"


def png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    kinds, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kinds.append(data[at + 4 : at + 8])
        at += 12 + length
    return kinds


def riff_chunks(data: bytes) -> list[bytes]:
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    kinds, at = [], 12
    while at + 8 <= len(data):
        kind, (length,) = data[at : at + 4], struct.unpack("<I", data[at + 4 : at + 8])
        kinds.append(kind)
        at += 8 + length + (length & 1)
    return kinds


def jpeg_markers(data: bytes) -> list[int]:
    """The marker bytes before the scan (APP1 = 0xE1 carries EXIF/XMP, APP2 = 0xE2 ICC)."""
    assert data[:2] == b"\xff\xd8"
    markers, at = [], 2
    while at < len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        markers.append(marker)
        if marker == 0xDA:
            break
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        at += 2 + length
    return markers


def encoded(mode: str, size: tuple[int, int], fmt: str, **save) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, 128 if mode in ("L", "1", "P") else None).save(out, format=fmt, **save)
    return out.getvalue()


def animation(fmt: str, frames: int, size: tuple[int, int] = (8, 8)) -> bytes:
    out = io.BytesIO()
    images = [Image.new("RGB", size, ((i * 85) % 256, (i * 41) % 256, 255 - (i * 85) % 256)) for i in range(frames)]
    images[0].save(out, format=fmt, save_all=True, append_images=images[1:])
    return out.getvalue()
