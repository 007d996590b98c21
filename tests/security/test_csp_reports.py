"""CSP violation reports (SECURITY.md T39): pages name a report endpoint; the endpoint takes both report formats
browsers send, without a CSRF token, caps the body, is rate-limited per address and logs one redacted line."""

import io
import json
import logging

import pytest
from django.test import Client
from django.urls import reverse

from imagegen_site import csp_reports
from imagegen_site.security import CSP_REPORT_GROUP, CSP_REPORT_PATH

pytestmark = pytest.mark.django_db

SHARE_TOKEN = "q8Zr2-fV0aLx9TkPwE3mYb"  # the shape of sharing.models.new_token()
LEGACY = {  # Firefox, Safari: Content-Type application/csp-report
    "csp-report": {
        "document-uri": f"https://imagegen.example/s/{SHARE_TOKEN}/?page=2#top",
        "referrer": "https://mail.example/?session=abc123secret",
        "violated-directive": "script-src-elem",
        "effective-directive": "script-src-elem",
        "original-policy": "default-src 'self'; script-src 'self' 'nonce-c2VjcmV0bm9uY2U='",
        "disposition": "enforce",
        "blocked-uri": "https://evil.example/x.js?token=sk-proj-AbCdEfGh1234567890",
        "line-number": 12,
        "source-file": "https://imagegen.example/static/app/app.js?v=3",
        "script-sample": "alert(document.cookie)",
        "status-code": 200,
    }
}
REPORTING_API = [  # Chromium: Content-Type application/reports+json, a batch of typed reports
    {
        "type": "csp-violation",
        "age": 10,
        "url": "https://imagegen.example/files/signed/eyJpIjoxfQ:1xUkgS:989Ftixwsp-IBF3FBH16QHMF6ryb/",
        "user_agent": "Mozilla/5.0",
        "body": {
            "documentURL": "https://imagegen.example/files/signed/eyJpIjoxfQ:1xUkgS:989Ftixwsp-IBF3FBH16QHMF6ryb/",
            "blockedURL": "inline",
            "effectiveDirective": "style-src-attr",
            "disposition": "enforce",
            "sample": "color: red",
            "originalPolicy": "default-src 'none'",
            "statusCode": 200,
        },
    },
    {"type": "deprecation", "url": "https://imagegen.example/", "body": {"id": "x"}},
    {"type": "csp-violation", "url": "https://imagegen.example/chats/",
     "body": {"documentURL": "https://imagegen.example/chats/", "blockedURL": "eval", "effectiveDirective": "script-src"}},
]


def post(body, content_type: str, client=None):
    client = client or Client(enforce_csrf_checks=True)  # a browser's report carries no CSRF token
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(reverse("csp-report"), data=data, content_type=content_type)


def csp_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "imagegen.csp"]


def test_pages_name_the_report_endpoint(client):
    assert reverse("csp-report") == CSP_REPORT_PATH
    response = client.get(reverse("login"))
    policy = {part.split()[0]: part.split()[1:] for part in response["Content-Security-Policy"].split(";")}
    assert policy["report-uri"] == [CSP_REPORT_PATH] and policy["report-to"] == [CSP_REPORT_GROUP]
    assert response["Reporting-Endpoints"] == f'{CSP_REPORT_GROUP}="{CSP_REPORT_PATH}"'


def test_a_legacy_report_is_accepted_and_logged_as_one_redacted_line(caplog):
    with caplog.at_level(logging.INFO, logger="imagegen.csp"):
        response = post(LEGACY, "application/csp-report")
    assert response.status_code == 204 and not response.content
    [line] = csp_lines(caplog)
    assert line == ("csp violation: script-src-elem blocked=https://evil.example/x.js "
                    "document=https://imagegen.example/s/[token]/ source=https://imagegen.example/static/app/app.js:12")
    for secret in (SHARE_TOKEN, "sk-proj", "token=", "page=2", "session=", "abc123secret", "nonce", "alert(",
                   "document.cookie", "#top"):
        assert secret not in line, secret


def test_a_reporting_api_batch_is_accepted_and_logged_as_one_line(caplog):
    with caplog.at_level(logging.INFO, logger="imagegen.csp"):
        response = post(REPORTING_API, "application/reports+json")
    assert response.status_code == 204
    [line] = csp_lines(caplog)
    assert line == ("csp violation: style-src-attr blocked=inline document=https://imagegen.example/files/signed/"
                    "[token]/ source=- (+1 more)")


@pytest.mark.parametrize("body, content_type, status", [
    (b"{}", "application/csp-report", 400),  # no report in it
    (b"not json", "application/reports+json", 400),
    (b'[{"type": "deprecation", "body": {}}]', "application/reports+json", 400),  # no CSP violation
    (json.dumps(LEGACY), "text/plain", 415),
    (json.dumps(LEGACY), "application/x-www-form-urlencoded", 415),
])
def test_what_is_not_a_csp_report_is_refused_and_not_logged(body, content_type, status, caplog):
    with caplog.at_level(logging.INFO, logger="imagegen.csp"):
        assert post(body, content_type).status_code == status
    assert not csp_lines(caplog)


def test_the_body_is_capped(caplog):
    big = {"csp-report": {**LEGACY["csp-report"], "script-sample": "x" * csp_reports.MAX_BODY_BYTES}}
    with caplog.at_level(logging.INFO, logger="imagegen.csp"):
        assert post(big, "application/csp-report").status_code == 413
    assert not csp_lines(caplog)


def test_the_body_is_capped_even_without_a_content_length(rf):
    """A server that hands over a stream with no declared length (chunked upload): no more than the cap is read."""
    request = rf.post(CSP_REPORT_PATH, data=b"{}", content_type="application/csp-report")
    request.META.pop("CONTENT_LENGTH", None)
    stream = io.BytesIO(json.dumps(LEGACY).encode() + b" " * (10 * csp_reports.MAX_BODY_BYTES))
    request._stream = stream
    assert csp_reports.csp_report(request).status_code == 413
    assert stream.tell() == csp_reports.MAX_BODY_BYTES + 1


def test_only_post(client):
    assert client.get(reverse("csp-report")).status_code == 405


def test_reports_are_rate_limited_per_address(settings, caplog):
    settings.IMAGEGEN_CSP_REPORT_RATE = "3/m"
    one, other = Client(REMOTE_ADDR="198.51.100.7"), Client(REMOTE_ADDR="198.51.100.8")
    with caplog.at_level(logging.INFO, logger="imagegen.csp"):
        statuses = [post(LEGACY, "application/csp-report", one).status_code for _ in range(4)]
        assert post(LEGACY, "application/csp-report", other).status_code == 204
    assert statuses == [204, 204, 204, 429]
    assert len(csp_lines(caplog)) == 4  # three from the first address, one from the other; none past the limit
    limited = post(LEGACY, "application/csp-report", one)
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0


def test_hostile_field_values_stay_on_one_printable_line(caplog):
    report = {"csp-report": {"effective-directive": "img-src\nFAKE LOG LINE", "blocked-uri": "https://x.example/a\r\nb",
                             "document-uri": "javascript:alert(1)", "line-number": "12; rm -rf",
                             "source-file": "http://[::1"}}
    with caplog.at_level(logging.INFO, logger="imagegen.csp"):
        assert post(report, "application/csp-report").status_code == 204
    [line] = csp_lines(caplog)
    assert "\n" not in line and "\r" not in line and "FAKE" not in line
    assert line == "csp violation: img-src blocked=https://x.example/ab document=javascript source=[unparsable]"
