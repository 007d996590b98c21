"""Storage options for S3-compatible buckets (AWS S3, MinIO, Cloudflare R2, moto in tests).

Plain data with no Django import, so settings.py and the tests build the same configuration.
"""

from __future__ import annotations

# Presigned and signed links live this long: a leaked link is a bearer token for at most five minutes.
MEDIA_LINK_MAX_AGE_S = 300


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
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
