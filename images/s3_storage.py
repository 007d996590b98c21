"""The S3 storage backend for media: django-storages' S3Storage whose presigned GET URLs are stable for a while.

botocore signs a presigned URL with the current time (SigV4Auth.add_auth reads botocore.compat.get_current_datetime),
so every page render mints a new URL and a repeat visit downloads every thumbnail again; botocore has no parameter
for the signing time (boto/botocore#2230). Here the signing time is the start of the current MEDIA_LINK_REUSE_S
window instead, so the same URL is minted all through a window. It still expires MEDIA_LINK_MAX_AGE_S after its
signing time, which is never later than MEDIA_LINK_MAX_AGE_S after it was minted.

Nothing global changes: the signer is chosen through a `choose-signer` handler on this storage's own boto3 session,
and only for presigned GetObject URLs. The one shared thing is a new, uniquely named entry in botocore's table of
signer classes, which that table needs to find a class by name (other clients never ask for the name).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from botocore.auth import AUTH_TYPE_MAPS, SIGV4_TIMESTAMP, S3SigV4QueryAuth
from storages.backends.s3 import S3Storage

from imagegen_site.storage_config import link_window_start

# botocore appends "-query" to a chosen name that lacks it, so the name ends with it.
WINDOWED_SIGNER = "imagegen-s3v4-window-query"


class WindowedS3SigV4QueryAuth(S3SigV4QueryAuth):
    """S3's SigV4 query-string signer, signing at the start of the current reuse window instead of now."""

    def _modify_request_before_signing(self, request) -> None:
        # add_auth has just stamped request.context["timestamp"] with now; everything after this point (X-Amz-Date,
        # the credential scope, the string to sign, the signing key) reads it from there.
        signed_at = datetime.fromtimestamp(link_window_start(time.time()), tz=timezone.utc)
        request.context["timestamp"] = signed_at.strftime(SIGV4_TIMESTAMP)
        super()._modify_request_before_signing(request)


AUTH_TYPE_MAPS.setdefault(WINDOWED_SIGNER, WindowedS3SigV4QueryAuth)


def choose_windowed_signer(signature_version: str = "", **kwargs) -> str | None:
    """Presigned GetObject URLs signed with SigV4 use the windowed signer; everything else is left to botocore."""
    return WINDOWED_SIGNER if signature_version == "s3v4-query" else None


class MediaS3Storage(S3Storage):
    def _create_session(self):
        session = super()._create_session()
        # Clients copy their session's handlers when created, so this reaches only this storage's clients.
        session.events.register("choose-signer.s3.GetObject", choose_windowed_signer,
                                unique_id="imagegen-windowed-presign")
        return session
