"""How image bytes reach a browser or an API client, on local disk or S3.

- Local disk: MEDIA_ROOT is never served. Pages use the owner-checked views (`image-file`, `image-thumbnail`);
  API clients without a session get a signed link (django.core.signing, bound to the owner, 5 minutes).
- S3: the bucket is private. The owner-checked views answer with a 302 to a presigned URL, and pages embed presigned
  URLs minted at render time (5 minutes), so a stored key never turns into a dead link (LibreChat #13751).

Caching: no answer is reused by a browser longer than a link lives, and never by a shared cache (`private`).
- Owner-checked views: `private, max-age=300` (the link lifetime), then a conditional request that the owner check
  answers with a 304; `Vary: Cookie` (the session) keeps another login in the same browser from reusing them.
- Signed links: `private, max-age=` what is left of the link's five minutes (the token carries its signing time).
- Presigned URLs: signed at the start of a 150-second window (images/s3_storage.py), so a repeat visit within it
  links the same URL; S3 answers them with `Expires:` the URL's own expiry.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from functools import lru_cache
from typing import Literal

from django.core import signing
from django.core.files.storage import default_storage
from django.core.signals import setting_changed
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.encoding import force_bytes

from imagegen_site.storage_config import MEDIA_LINK_MAX_AGE_S, link_window_start

from .models import GeneratedImage

Kind = Literal["file", "thumb"]
SIGNING_SALT = "img-v1"


# An id no table reaches: it marks where the argument goes in a link route reversed once (link_maker).
_MARK = 918_273_645_546_372_819
_PLAIN_ARG = re.compile(r"[A-Za-z0-9_:-]+\Z")  # ids and signed tokens: what reverse() would leave unquoted


@lru_cache(maxsize=64)
def _route_parts(name: str, prefix: str, urlconf: str | None) -> tuple[str, str] | None:
    parts = reverse(name, args=[_MARK], urlconf=urlconf).split(str(_MARK))
    return (parts[0], parts[1]) if len(parts) == 2 else None


setting_changed.connect(lambda **kwargs: _route_parts.cache_clear(), dispatch_uid="delivery-routes-clear", weak=False)


def link_maker(name: str) -> Callable[[int | str], str]:
    """reverse(name, args=[arg]) for a link route whose one argument is an id or a signed token, at a string join's
    cost: the route is reversed once per process (and script prefix) with a marker where the argument goes. A page
    of 50 images reversed 200 links (issue 10, P3). Anything reverse() would quote goes through reverse()."""
    parts = _route_parts(name, get_script_prefix(), get_urlconf())

    def link(arg: int | str) -> str:
        text = str(arg)
        if parts is None or not _PLAIN_ARG.match(text):
            return reverse(name, args=[arg])
        return f"{parts[0]}{text}{parts[1]}"

    return link


def uses_presigned_urls() -> bool:
    """True when the storage can mint URLs that a browser may fetch directly (S3 with querystring auth)."""
    return bool(getattr(default_storage, "querystring_auth", False))


def storage_name(image: GeneratedImage, kind: Kind) -> str:
    return image.thumbnail if kind == "thumb" else image.file


def presigned_url(image: GeneratedImage, kind: Kind, *, download: bool = False) -> str:
    content_type = "image/webp" if kind == "thumb" else image.mime_type
    filename = image.download_name if kind == "file" else image.download_name.rsplit(".", 1)[0] + "_thumb.webp"
    disposition = "attachment" if download else "inline"
    # The same for the whole reuse window, so the URL is too. A max-age would count from the fetch and could outlive
    # the URL; Expires is the URL's own expiry (or earlier, should the storage sign at the current time instead).
    expires = datetime.fromtimestamp(link_window_start(time.time()) + MEDIA_LINK_MAX_AGE_S, tz=timezone.utc)
    return default_storage.url(
        storage_name(image, kind),
        parameters={
            "ResponseContentType": content_type,
            "ResponseContentDisposition": f'{disposition}; filename="{filename}"',
            "ResponseCacheControl": "private",
            "ResponseExpires": expires,
        },
        expire=MEDIA_LINK_MAX_AGE_S,
    )


def page_src(image: GeneratedImage, kind: Kind) -> str:
    """The `src` for an <img> on a page the owner is looking at."""
    return page_src_maker(kind)(image)


def page_src_maker(kind: Kind) -> Callable[[GeneratedImage], str]:
    """page_src for a page of images: the storage and the route are looked up once."""
    if uses_presigned_urls():
        return lambda image: presigned_url(image, kind)
    link = link_maker("image-thumbnail" if kind == "thumb" else "image-file")
    return lambda image: link(image.pk)


def sign(image: GeneratedImage, kind: Kind = "file") -> str:
    return signing.dumps({"i": image.pk, "u": image.owner_id, "k": kind}, salt=SIGNING_SALT, compress=False)


def unsign(token: str) -> dict:
    """The payload of a link; raises signing.SignatureExpired after 5 minutes, signing.BadSignature if altered."""
    return signing.loads(token, salt=SIGNING_SALT, max_age=MEDIA_LINK_MAX_AGE_S)


def seconds_left(token: str) -> int:
    """How long a link that unsign() accepted stays valid. Its signing time is the token's second field, covered
    by the signature unsign() checked, so it is ours."""
    signed_at = signing.b62_decode(token.rsplit(":", 2)[1])
    return max(0, min(MEDIA_LINK_MAX_AGE_S, int(signed_at + MEDIA_LINK_MAX_AGE_S - time.time())))


class _LinkSigner(signing.TimestampSigner):
    """sign() for many links: the same token signing.dumps(…, salt=SIGNING_SALT) makes, with the HMAC key derived
    from the secret once per signer instead of once per link (salted_hmac hashes salt + secret on every call; a
    50-image API page signed 50 links, issue 10, P3). Checking a token stays signing.loads (unsign)."""

    def __init__(self) -> None:
        super().__init__(salt=SIGNING_SALT)
        derived = hashlib.sha256(force_bytes(self.salt + "signer") + force_bytes(self.key)).digest()
        self._mac = hmac.new(derived, digestmod=hashlib.sha256)

    def signature(self, value, key=None) -> str:
        if key is not None and key != self.key:
            return super().signature(value, key)
        mac = self._mac.copy()
        mac.update(force_bytes(value))
        return signing.b64_encode(mac.digest()).decode()

    def link_token(self, image: GeneratedImage, kind: Kind) -> str:
        return self.sign_object({"i": image.pk, "u": image.owner_id, "k": kind}, compress=False)


def short_lived_url_maker() -> Callable[[GeneratedImage, Kind], str]:
    """short_lived_url for a list of images: the route and the signing key are prepared once."""
    if uses_presigned_urls():
        return lambda image, kind="file": presigned_url(image, kind)
    signer, link = _LinkSigner(), link_maker("image-signed")
    return lambda image, kind="file": link(signer.link_token(image, kind))


def short_lived_url(image: GeneratedImage, kind: Kind = "file") -> str:
    """A link that works without a session for 5 minutes: presigned on S3, signed by us on local disk."""
    if uses_presigned_urls():
        return presigned_url(image, kind)
    return link_maker("image-signed")(sign(image, kind))
