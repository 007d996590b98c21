"""Browser-facing security headers (SECURITY.md T36, T38, T39).

The Content-Security-Policy itself is sent by django-csp's CSPMiddleware from CONTENT_SECURITY_POLICY, which
settings.py builds with content_security_policy() below; this module adds the headers Django does not send.
No Django import at module level: settings.py imports it.
"""

from __future__ import annotations

from typing import Callable
from urllib.parse import urlsplit

from csp.constants import NONCE, NONE, SELF


# Where browsers send violation reports (imagegen_site/csp_reports.py): `report-to` names the Reporting-Endpoints
# group below (Chromium), `report-uri` is the older form the other browsers still use. Must match urls.py.
CSP_REPORT_PATH = "/csp-report/"
CSP_REPORT_GROUP = "csp-endpoint"


def content_security_policy(*, extra_img_src: list[str] = ()) -> dict:
    """The policy for every page: scripts from our origin or carrying the request's nonce, no inline style,
    no plugins, no <base>, never framed; images from our origin only (plus the media bucket when files are on
    S3), which is also what stops markdown-image exfiltration to other hosts (T36). Violations are reported."""
    return {
        "DIRECTIVES": {
            "default-src": [SELF],
            "script-src": [SELF, NONCE],
            "style-src": [SELF],
            "img-src": [SELF, "data:", "blob:", *extra_img_src],
            "font-src": [SELF],
            "connect-src": [SELF],
            "object-src": [NONE],
            "base-uri": [NONE],
            "frame-ancestors": [NONE],
            "form-action": [SELF],
            "report-uri": [CSP_REPORT_PATH],
            "report-to": CSP_REPORT_GROUP,
        }
    }


def s3_media_origins(bucket: str, *, endpoint_url: str = "", region: str = "") -> list[str]:
    """Where presigned image URLs point when media lives on S3, so <img> may load them."""
    if not bucket:
        return []
    if endpoint_url:
        parts = urlsplit(endpoint_url)
        return [f"{parts.scheme}://{parts.netloc}"]
    hosts = [f"https://{bucket}.s3.amazonaws.com"]
    if region:
        hosts.append(f"https://{bucket}.s3.{region}.amazonaws.com")
    return hosts


# Headers for every response that has not set its own (image files set stricter ones in images/views.py).
EXTRA_HEADERS = {
    # Other sites may not embed our responses (images, JSON) with <img>/<script>: our files are private.
    "Cross-Origin-Resource-Policy": "same-origin",
    # The app uses none of these browser features; a successful XSS cannot either.
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
    # The endpoint the policy's report-to names; relative, so it resolves against the page's own origin.
    "Reporting-Endpoints": f'{CSP_REPORT_GROUP}="{CSP_REPORT_PATH}"',
}


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        for header, value in EXTRA_HEADERS.items():
            response.headers.setdefault(header, value)
        return response
