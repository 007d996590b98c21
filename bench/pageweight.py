"""P7's browser model: what a page makes a browser download on a first visit and on a repeat visit.

Plain parsing of the page's HTML and CSS (which subresources a browser would fetch) and of the answers' caching
headers (whether a repeat visit may reuse a copy without asking, must revalidate, or must fetch again). The
fetching itself is in bench/run.py (bench_p7); these parts are pure, so tests/test_bench_tools.py checks them.
"""

from __future__ import annotations

import gzip
import re
import zlib
from email.message import Message
from html.parser import HTMLParser
from typing import Literal

Verdict = Literal["cache", "revalidate", "fetch"]


class _Subresources(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "img" and a.get("src"):
            self.found.append(("img", a["src"]))
        elif tag == "script" and a.get("src"):
            self.found.append(("js", a["src"]))
        elif tag == "link" and a.get("href"):
            rel = set(a.get("rel", "").lower().split())
            if "stylesheet" in rel:
                self.found.append(("css", a["href"]))
            elif "icon" in rel:
                self.found.append(("icon", a["href"]))


def page_subresources(html: str) -> list[tuple[str, str]]:
    """(kind, url) for every <img src>, <script src>, stylesheet and icon link, in page order, without repeats (a
    browser fetches a URL once per page)."""
    parser = _Subresources()
    parser.feed(html)
    seen, out = set(), []
    for kind, url in parser.found:
        if url not in seen and not url.startswith("data:"):
            seen.add(url)
            out.append((kind, url))
    return out


_FONT_FACE = re.compile(r"@font-face\s*{([^}]*)}", re.I)
_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)""", re.I)


def css_fonts(css: str) -> list[str]:
    """The font file a browser downloads for each @font-face: the first url() of its `src` list (browsers take the
    first format they support; every current one supports the woff2 that stylesheets list first)."""
    out = []
    for block in _FONT_FACE.findall(css):
        src = re.search(r"(?:^|;)\s*src\s*:([^;]*)", block, re.I)
        urls = _URL.findall(src.group(1)) if src else []
        if urls and urls[0] not in out:
            out.append(urls[0])
    return out


def cache_directives(value: str) -> dict[str, str]:
    out = {}
    for part in value.split(","):
        name, _, arg = part.strip().partition("=")
        if name:
            out[name.lower()] = arg.strip().strip('"')
    return out


def repeat_visit(headers: Message | dict) -> Verdict:
    """What a browser does with this answer on a visit soon after: "cache" (reused without a request: a
    fresh `max-age`, with or without `immutable`), "revalidate" (a conditional request: no-cache, or no freshness but an ETag or
    Last-Modified), or "fetch" (no-store, or nothing to go on)."""
    cc = cache_directives(headers.get("Cache-Control") or "")
    if "no-store" in cc:
        return "fetch"
    validators = bool(headers.get("ETag") or headers.get("Last-Modified"))
    if "no-cache" in cc:
        return "revalidate" if validators else "fetch"
    try:
        max_age = int(cc.get("max-age") or 0)
    except ValueError:
        max_age = 0
    if max_age > 0:  # a repeat visit soon after; `immutable` also spares the revalidation a reload would send
        return "cache"
    return "revalidate" if validators else "fetch"


def conditional_headers(headers: Message | dict) -> dict[str, str]:
    """If-None-Match / If-Modified-Since from a first answer's ETag / Last-Modified."""
    out = {}
    if headers.get("ETag"):
        out["If-None-Match"] = headers["ETag"]
    if headers.get("Last-Modified"):
        out["If-Modified-Since"] = headers["Last-Modified"]
    return out


def decoded(body: bytes, content_encoding: str) -> bytes:
    """The body a browser parses: gzip and deflate undone (the bench measures compressed bytes, parses plain ones)."""
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    raise ValueError(f"cannot decode Content-Encoding {content_encoding!r} (the bench has no decoder for it)")
