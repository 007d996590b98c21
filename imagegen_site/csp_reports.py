"""The endpoint browsers post Content-Security-Policy violation reports to (security.CSP_REPORT_PATH).

Anyone can post here (a report comes from whatever page the browser was on, signed in or not), so the endpoint
trusts nothing: the body is capped, the rate is limited per address, and what is logged is one line per request
with only the directive, the blocked resource and where it happened, as scheme://host/path. Query strings,
fragments, token-like path segments, script samples and the policy text are dropped, because the URLs of our own
pages can carry bearer tokens (share links /s/<token>/, signed file links /files/signed/<token>/).
"""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .ratelimits import csp_report_limited

log = logging.getLogger("imagegen.csp")

MAX_BODY_BYTES = 16 * 1024  # one report is well under 2 KiB; a Reporting API batch holds a few
REPORT_TYPES = {"application/csp-report", "application/reports+json", "application/json"}
MAX_FIELD = 200
TOKENISH = re.compile(r"^(?=.*\d)[A-Za-z0-9_\-:]{16,}$")  # a long opaque segment with a digit: treat it as a secret
NOT_PRINTABLE = re.compile(r"[^\x21-\x7e]")  # one line, no control characters or spaces from the sender


@csrf_exempt  # browsers send reports without our CSRF token; nothing here changes state beyond a log line
@require_POST
def csp_report(request: HttpRequest) -> HttpResponse:
    if (wait := csp_report_limited(request)) is not None:
        return HttpResponse(status=429, headers={"Retry-After": str(wait)})
    if request.content_type not in REPORT_TYPES:
        return HttpResponse(status=415)
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return HttpResponse(status=413)
    body = request.read(MAX_BODY_BYTES + 1)  # never more than the cap, whatever the header said
    if len(body) > MAX_BODY_BYTES:
        return HttpResponse(status=413)
    try:
        violations = list(_violations(json.loads(body)))
    except (ValueError, TypeError, AttributeError):
        violations = []
    if not violations:
        return HttpResponse(status=400)
    first = violations[0]
    more = f" (+{len(violations) - 1} more)" if len(violations) > 1 else ""
    log.warning("csp violation: %s blocked=%s document=%s source=%s%s", *first, more)
    return HttpResponse(status=204)


def _violations(data):
    """(directive, blocked, document, source) for each report: `application/csp-report` is one object under
    "csp-report"; `application/reports+json` (the Reporting API) is a list of typed reports."""
    if isinstance(data, dict) and isinstance(data.get("csp-report"), dict):
        r = data["csp-report"]
        yield _line(r.get("effective-directive") or r.get("violated-directive"), r.get("blocked-uri"),
                    r.get("document-uri"), r.get("source-file"), r.get("line-number"))
    elif isinstance(data, list):
        for report in data[:20]:
            if isinstance(report, dict) and report.get("type") == "csp-violation" and isinstance(report.get("body"), dict):
                b = report["body"]
                yield _line(b.get("effectiveDirective"), b.get("blockedURL"), b.get("documentURL") or report.get("url"),
                            b.get("sourceFile"), b.get("lineNumber"))


def _line(directive, blocked, document, source, line) -> tuple[str, str, str, str]:
    directive = directive.split()[0] if isinstance(directive, str) and directive.strip() else ""
    source_text = _where(source)
    if source_text != "-" and isinstance(line, int) and not isinstance(line, bool):
        source_text += f":{line}"
    return _clean(directive, 40), _where(blocked), _where(document), source_text


def _where(value) -> str:
    """scheme://host/path of a URL, with token-like segments masked; keywords (inline, eval, data) as they are."""
    if not isinstance(value, str) or not value.strip():
        return "-"
    value = value.strip()[:2048]
    try:
        parts = urlsplit(value)
    except ValueError:
        return "[unparsable]"
    if not parts.netloc:  # "inline", "eval", "data", "blob", "wasm-eval" or a scheme alone
        return _clean(value.split(":", 1)[0], 20)
    path = "/".join("[token]" if TOKENISH.match(segment) else segment for segment in parts.path.split("/"))
    host = parts.hostname or ""
    port = f":{parts.port}" if _port(parts) else ""
    return _clean(f"{parts.scheme}://{host}{port}{path}", MAX_FIELD)


def _port(parts) -> int | None:
    try:
        return parts.port
    except ValueError:
        return None


def _clean(text: str, limit: int) -> str:
    return NOT_PRINTABLE.sub("?", text)[:limit] or "-"
