"""How image bytes reach a browser or an API client, on local disk or S3.

- Local disk: MEDIA_ROOT is never served. Pages use the owner-checked views (`image-file`, `image-thumbnail`);
  API clients without a session get a signed link (django.core.signing, bound to the owner, 5 minutes).
- S3: the bucket is private. The owner-checked views answer with a 302 to a presigned URL, and pages embed presigned
  URLs minted at render time (5 minutes), so a stored key never turns into a dead link (LibreChat #13751).
"""

from __future__ import annotations

from typing import Literal

from django.core import signing
from django.core.files.storage import default_storage
from django.urls import reverse

from imagegen_site.storage_config import MEDIA_LINK_MAX_AGE_S

from .models import GeneratedImage

Kind = Literal["file", "thumb"]
SIGNING_SALT = "img-v1"


def uses_presigned_urls() -> bool:
    """True when the storage can mint URLs that a browser may fetch directly (S3 with querystring auth)."""
    return bool(getattr(default_storage, "querystring_auth", False))


def storage_name(image: GeneratedImage, kind: Kind) -> str:
    return image.thumbnail if kind == "thumb" else image.file


def presigned_url(image: GeneratedImage, kind: Kind, *, download: bool = False) -> str:
    content_type = "image/webp" if kind == "thumb" else image.mime_type
    filename = image.download_name if kind == "file" else image.download_name.rsplit(".", 1)[0] + "_thumb.webp"
    disposition = "attachment" if download else "inline"
    return default_storage.url(
        storage_name(image, kind),
        parameters={
            "ResponseContentType": content_type,
            "ResponseContentDisposition": f'{disposition}; filename="{filename}"',
            "ResponseCacheControl": f"private, max-age={MEDIA_LINK_MAX_AGE_S}",
        },
        expire=MEDIA_LINK_MAX_AGE_S,
    )


def page_src(image: GeneratedImage, kind: Kind) -> str:
    """The `src` for an <img> on a page the owner is looking at."""
    if uses_presigned_urls():
        return presigned_url(image, kind)
    return reverse("image-thumbnail" if kind == "thumb" else "image-file", args=[image.pk])


def sign(image: GeneratedImage, kind: Kind = "file") -> str:
    return signing.dumps({"i": image.pk, "u": image.owner_id, "k": kind}, salt=SIGNING_SALT, compress=False)


def unsign(token: str) -> dict:
    """The payload of a link; raises signing.SignatureExpired after 5 minutes, signing.BadSignature if altered."""
    return signing.loads(token, salt=SIGNING_SALT, max_age=MEDIA_LINK_MAX_AGE_S)


def short_lived_url(image: GeneratedImage, kind: Kind = "file") -> str:
    """A link that works without a session for 5 minutes: presigned on S3, signed by us on local disk."""
    if uses_presigned_urls():
        return presigned_url(image, kind)
    return reverse("image-signed", args=[sign(image, kind)])
