"""docs/errors.md is the reference for every error code: it must list each code the code can produce, with the same
HTTP status the API answers. A new code, or a status changed in one place only, fails here."""

import re
from pathlib import Path

from imagegen_site.api_errors import CODES
from images.providers.base import ERROR_HINTS, ERROR_HTTP_STATUS

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ["chats", "images", "profiles", "imagegen_site", "ops", "sharing", "moderation"]
# `code="…"`, `error_code = "…"`, `"code": "…"` in the product's Python (not its tests or migrations).
CODE_LITERAL = re.compile(r"""(?:\bcode|\berror_code)\s*[=:]\s*["']([a-z_]+)["']|["']code["']\s*:\s*["']([a-z_]+)["']""")


def documented() -> dict[str, str]:
    """code → the HTTP cell of its table row."""
    rows = re.findall(r"^\| `([a-z_]+)` \| ([^|]+) \|", (ROOT / "docs" / "errors.md").read_text(), re.MULTILINE)
    return {code: http.strip() for code, http in rows}


def codes_in_source() -> set[str]:
    found = set()
    for folder in SOURCE_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for match in CODE_LITERAL.finditer(path.read_text()):
                found.add(match.group(1) or match.group(2))
    return found


def test_every_code_the_source_uses_is_documented():
    used = codes_in_source() | set(ERROR_HTTP_STATUS) | set(CODES.values()) | set(ERROR_HINTS)
    assert len(used) > 20, "the scan found too few codes: the pattern is broken"
    missing = sorted(used - set(documented()))
    assert not missing, f"codes used in the code but not in docs/errors.md: {missing}"


def test_documented_http_status_matches_the_api_mapping():
    docs = documented()
    for code, status in ERROR_HTTP_STATUS.items():
        if code == "worker_lost":  # a job status, never an API answer inside the request
            assert docs[code] == "—"
            continue
        assert docs[code].split()[0] == str(status), f"{code}: docs say {docs[code]}, the API answers {status}"


def test_every_documented_code_is_still_used():
    stale = sorted(set(documented()) - codes_in_source() - set(ERROR_HTTP_STATUS) - set(CODES.values()))
    assert not stale, f"docs/errors.md lists codes nothing produces any more: {stale}"
