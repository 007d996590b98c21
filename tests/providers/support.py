"""Helpers for provider tests: the recorded payloads in tests/fixtures/providers and small image bytes."""

from __future__ import annotations

import base64
import io
import json
import pathlib
from typing import Any

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "providers"
B64_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+Av4N70a4AAAAAElFTkSuQmCC"
PNG = base64.b64decode(B64_PNG)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32  # the magic bytes are what providers sniff
PUBLIC_IP = "93.184.216.34"
MiB = 1024 * 1024


def fixture(kind: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / kind / f"{name}.json").read_text())


def reply(kind: str, name: str, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for responses.add() that replay a recorded reply (status, headers, body)."""
    fx = fixture(kind, name)
    kw: dict[str, Any] = {"status": fx["status"],
                          "headers": {k: v for k, v in fx.get("headers", {}).items() if k.lower() != "content-type"}}
    if "json" in fx:
        kw["json"] = fx["json"]
    else:
        kw["body"] = base64.b64decode(fx["body_base64"])
        kw["content_type"] = fx["content_type"]
    kw.update(overrides)
    return kw


def sent_json(call: Any) -> dict[str, Any]:
    return json.loads(call.request.body)


def sent_form(call: Any) -> dict[str, str]:
    """The text fields of a multipart body (files are left out)."""
    body = call.request.body
    content_type = call.request.headers["Content-Type"]
    boundary = content_type.split("boundary=")[1].encode()
    fields = {}
    for part in body.split(b"--" + boundary):
        head, _, value = part.partition(b"\r\n\r\n")
        if b"filename=" in head or b'name="' not in head:
            continue
        name = head.split(b'name="')[1].split(b'"')[0].decode()
        fields[name] = value.rstrip(b"\r\n").decode()
    return fields


def sent_files(call: Any) -> dict[str, tuple[str, str, bytes]]:
    """The file parts of a multipart body: name → (file name, content type, bytes)."""
    body = call.request.body
    boundary = call.request.headers["Content-Type"].split("boundary=")[1].encode()
    files = {}
    for part in body.split(b"--" + boundary):
        head, _, value = part.partition(b"\r\n\r\n")
        if b"filename=" not in head:
            continue
        name = head.split(b'name="')[1].split(b'"')[0].decode()
        filename = head.split(b'filename="')[1].split(b'"')[0].decode()
        content_type = head.split(b"Content-Type: ")[1].split(b"\r\n")[0].decode() if b"Content-Type: " in head else ""
        files[name] = (filename, content_type, value[: -2] if value.endswith(b"\r\n") else value)
    return files


class EndlessBody(io.RawIOBase):
    """A response body of `total` bytes that counts how much was actually read from it."""

    def __init__(self, total: int) -> None:
        self.total, self.served = total, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.total - self.served)
        buffer[:n] = b"\0" * n
        self.served += n
        return n
