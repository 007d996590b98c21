"""Storage options for S3-compatible buckets (AWS S3, MinIO, Cloudflare R2, moto in tests).

Plain data with no Django import, so settings.py and the tests build the same configuration.
"""

from __future__ import annotations

# Presigned and signed links live this long: a leaked link is a bearer token for at most five minutes.
MEDIA_LINK_MAX_AGE_S = 300
# Presigned URLs are signed at the start of a window this long, so a page rendered twice within it links the same
# URL and the browser reuses what it fetched (images/s3_storage.py). A URL minted late in a window is still valid
# for MEDIA_LINK_MAX_AGE_S - MEDIA_LINK_REUSE_S (150 s): long enough for a page's thumbnails to load.
MEDIA_LINK_REUSE_S = 150


def link_window_start(now: float) -> int:
    """The signing time of a presigned URL minted at `now` (Unix seconds): the start of its reuse window. Never
    later than `now`, so the URL never expires later than MEDIA_LINK_MAX_AGE_S after it was minted."""
    return int(now) - int(now) % MEDIA_LINK_REUSE_S


def s3_storage(bucket: str, *, endpoint_url: str = "", region: str = "", prefix: str = "") -> dict:
    """A STORAGES["default"] entry for django-storages' S3Storage with a private bucket and presigned URLs."""
    options = {
        "bucket_name": bucket,
        "default_acl": None,  # the bucket policy decides; with no public policy every object is private
        "querystring_auth": True,  # every URL is presigned ...
        "querystring_expire": MEDIA_LINK_MAX_AGE_S,  # ... for five minutes, minted when a page renders
        "file_overwrite": True,  # names are content-addressed: the same name always means the same bytes
        "signature_version": "s3v4",
        "object_parameters": {"CacheControl": f"private, max-age={MEDIA_LINK_MAX_AGE_S}"},
        "location": prefix.strip("/"),
    }
    if endpoint_url:
        options["endpoint_url"] = endpoint_url
        options["addressing_style"] = "path"  # MinIO and most self-hosted S3 APIs have no virtual-host buckets
    if region:
        options["region_name"] = region
    # django-storages' S3Storage, signing presigned URLs at the start of their reuse window (images/s3_storage.py).
    return {"BACKEND": "images.s3_storage.MediaS3Storage", "OPTIONS": options}
