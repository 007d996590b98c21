"""The one outbound HTTP client (SECURITY.md T16–T25): every provider call goes through here.

Rules enforced in one place: http/https only; the host is resolved once, every answer must be globally routable
(unless the operator allowlisted that host:port) and the socket dials exactly that validated address (no second
DNS lookup, so no rebinding); API calls never follow redirects, downloads follow at most 3, each re-checked;
connect timeout 5 s plus a total deadline; bodies are streamed with a byte cap and Content-Length is not trusted.
Only ProviderError leaves this module, and no message or log line carries request headers (keys live there).
"""

from __future__ import annotations

import email.utils
import ipaddress
import json as jsonlib
import logging
import re
import socket
import ssl
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterable, Iterator
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from images.providers.base import ProviderError

log = logging.getLogger("imagegen.http")

MiB = 1024 * 1024
JSON_MAX_BYTES = 32 * MiB
IMAGE_MAX_BYTES = 20 * MiB
CONNECT_TIMEOUT = 5.0
DEFAULT_DEADLINE = 180.0
MAX_DEADLINE = 600.0  # self-hosted servers on slow GPUs
MAX_REDIRECTS = 3
CHUNK = 64 * 1024
USER_AGENT = "imagegen/1.0"

# Cloud metadata endpoints stay refused even for allowlisted names: nothing legitimate lives there.
METADATA_IPS = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
BLOCKED_NAMES = {"localhost", "metadata", "metadata.google.internal", "metadata.goog", "instance-data"}
BLOCKED_SUFFIXES = (".localhost", ".internal", ".local", ".localdomain", ".home.arpa")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Whitespace, control characters and backslashes are where URL parsers disagree (T19); refuse them outright.
UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written (no brackets, no trailing dot); used for Host, SNI and certificate checks
    port: int
    ip: str  # the validated address the socket dials


@dataclass
class HttpResponse:
    status: int
    headers: CaseInsensitiveDict
    content: bytes
    url: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()

    def json(self) -> Any:
        try:
            return jsonlib.loads(self.content)
        except ValueError:
            raise ProviderError(f"{_where(self.url)} answered HTTP {self.status} with a body that is not JSON.",
                                code="provider_error", status=self.status) from None

    def json_or_none(self) -> Any:
        """The body as JSON if it parses; error replies (Cloudflare 429s, proxies) are often plain text."""
        try:
            return jsonlib.loads(self.content)
        except ValueError:
            return None


def forbid(url: str, why: str) -> ProviderError:
    return ProviderError(f"Address not allowed ({why}): {_where(url)}", code="url_forbidden")


def _where(url: str) -> str:
    # Scheme, host and path only: query strings may carry tokens.
    try:
        p = urlsplit(url)
        port = f":{p.port}" if p.port else ""
        return f"{p.scheme}://{p.hostname or ''}{port}{p.path}"
    except ValueError:
        return "<invalid URL>"


def resolve_host(host: str, port: int) -> list[str]:
    """DNS lookup; a module function so tests can monkeypatch it (no test ever touches real DNS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


def private_allowlist() -> set[tuple[str, int]]:
    """The operator's IMAGEGEN_PRIVATE_ALLOWLIST ("host:port" strings), read lazily so settings may be absent."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        entries = getattr(settings, "IMAGEGEN_PRIVATE_ALLOWLIST", []) or []
    except ImproperlyConfigured:  # settings not configured (e.g. a script): nothing is allowlisted
        entries = []
    allowed = set()
    for entry in entries:
        host, _, port = str(entry).strip().lower().rpartition(":")
        if host and port.isdigit():  # an entry without a port allows nothing: the port must match (T21)
            allowed.add((host.strip("[]").rstrip("."), int(port)))
    return allowed


def _literal_ip(name: str, url: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        pass
    # getaddrinfo accepts 2130706433, 0177.0.0.1, 127.1 and 0x7f.1 as IPv4; decode them the same way, no DNS.
    if all(NUMERIC_LABEL.match(label) for label in name.split(".")):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(name))
        except OSError:
            raise forbid(url, "malformed IP address") from None
    return None


def ip_allowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, *, private_ok: bool) -> bool:
    if ip in METADATA_IPS or ip.is_multicast or ip.is_unspecified:
        return False
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return False
        # Addresses that embed an IPv4 one are judged by it (6to4, Teredo, NAT64 route to that IPv4 host).
        embedded = ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if ip in NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and not ip_allowed(embedded, private_ok=private_ok):
            return False
    return private_ok or ip.is_global


def check_url(url: str, *, https_only: bool = False, allowed_hosts: Iterable[str] | None = None) -> Target:
    """Decide whether `url` may be called and which address to dial; raises ProviderError(url_forbidden)."""
    if not isinstance(url, str) or UNSAFE_CHARS.search(url):
        raise forbid(str(url), "spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise forbid(url, "malformed URL") from None
    scheme = parts.scheme.lower()
    if scheme not in (("https",) if https_only else ("http", "https")):
        raise forbid(url, "only https" if https_only else "only http and https")
    if "@" in parts.netloc:  # credentials in the authority are how parsers get confused; keys go in headers
        raise forbid(url, "credentials in the address")
    name = (parts.hostname or "").rstrip(".")
    if not name:
        raise forbid(url, "no host")
    # The host requests/urllib3 will use must be the one we judged (T19).
    try:
        dialled = urllib3.util.parse_url(url).host or ""
    except urllib3.exceptions.LocationParseError:
        raise forbid(url, "malformed URL") from None
    if dialled.strip("[]").lower().rstrip(".") != name:
        raise forbid(url, "ambiguous host")
    port = port or (443 if scheme == "https" else 80)
    if allowed_hosts is not None and not host_matches(name, allowed_hosts):
        raise forbid(url, "not one of the provider's hosts")
    private_ok = (name, port) in private_allowlist()
    literal = _literal_ip(name, url)
    if literal is not None:
        ips = [literal]
    else:
        if not private_ok and (name in BLOCKED_NAMES or name.endswith(BLOCKED_SUFFIXES)):
            raise forbid(url, "internal host name")
        try:
            ips = [ipaddress.ip_address(a.split("%")[0]) for a in resolve_host(name, port)]
        except (OSError, UnicodeError, ValueError):
            raise ProviderError(f"Could not resolve {name}.", code="provider_error", retryable=True) from None
        if not ips:
            raise ProviderError(f"Could not resolve {name}.", code="provider_error", retryable=True)
    # Every answer must pass, not just the first: a mixed answer is a rebinding attempt.
    for ip in ips:
        if not ip_allowed(ip, private_ok=private_ok):
            raise forbid(url, "private or reserved network; an operator can allow it in IMAGEGEN_PRIVATE_ALLOWLIST")
    return Target(scheme=scheme, host=name, port=port, ip=str(ips[0]))


def host_matches(host: str, patterns: Iterable[str]) -> bool:
    """Exact host, or "*.example.com" for any subdomain of it."""
    host = host.lower()
    for pattern in patterns:
        pattern = pattern.lower()
        if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


class _PinnedMixin:
    def __init__(self, *args: Any, pinned_ip: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pinned_ip = pinned_ip

    def _new_conn(self) -> socket.socket:
        # urllib3 dials self._dns_host; point it at the validated IP only while connecting, so the Host
        # header, SNI and certificate verification keep using the real host name.
        real = self._dns_host  # type: ignore[has-type]
        self._dns_host = self.pinned_ip
        try:
            return super()._new_conn()  # type: ignore[misc]
        finally:
            self._dns_host = real


class _PinnedHTTPConnection(_PinnedMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedMixin, HTTPSConnection):
    pass


class PinnedAdapter(HTTPAdapter):
    """An adapter for one call to one validated Target. It does not override send(), so `responses`
    (which patches HTTPAdapter.send) still intercepts it in tests."""

    def __init__(self, target: Target) -> None:
        self.target = target
        super().__init__(max_retries=0)  # retries belong to the task, not the transport

    def get_connection_with_tls_context(self, request: requests.PreparedRequest, verify: Any,
                                        proxies: Any = None, cert: Any = None) -> Any:
        pool = super().get_connection_with_tls_context(request, verify, proxies=None, cert=cert)
        if (pool.host.strip("[]").lower().rstrip("."), pool.port) != (self.target.host.lower(), self.target.port):
            raise forbid(request.url or "", "host changed after validation")
        pool.ConnectionCls = _PinnedHTTPSConnection if self.target.scheme == "https" else _PinnedHTTPConnection
        pool.conn_kw["pinned_ip"] = self.target.ip
        return pool


def retry_after(headers: Any) -> float | None:
    """Seconds from retry-after-ms, then Retry-After (seconds or an HTTP date), as the official SDKs do."""
    ms = headers.get("retry-after-ms")
    try:
        if ms is not None:
            return max(float(ms) / 1000, 0.0)
    except ValueError:
        pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(when.timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


def request(method: str, url: str, *, headers: dict[str, str] | None = None, params: dict | None = None,
            json: Any = None, data: Any = None, files: Any = None, auth: Any = None,
            timeout_total: float = DEFAULT_DEADLINE, max_bytes: int = JSON_MAX_BYTES) -> HttpResponse:
    """One API call. Non-2xx replies are returned (providers map vendor errors); a 3xx is refused."""
    deadline = time.monotonic() + min(timeout_total, MAX_DEADLINE)
    resp = _send(method, url, headers=headers, params=params, json=json, data=data, files=files, auth=auth,
                 deadline=deadline, max_bytes=max_bytes, https_only=False, allowed_hosts=None)
    if 300 <= resp.status < 400:
        raise ProviderError(f"{_where(url)} answered with a redirect (HTTP {resp.status}); API calls do not "
                            "follow redirects.", code="provider_error", status=resp.status)
    return resp


def download(url: str, *, max_bytes: int = IMAGE_MAX_BYTES, allowed_hosts: Iterable[str] | None = None,
             timeout_total: float = DEFAULT_DEADLINE) -> HttpResponse:
    """Fetch a provider-hosted result over https; follows at most 3 redirects, re-checking every hop."""
    deadline = time.monotonic() + min(timeout_total, MAX_DEADLINE)
    hosts = list(allowed_hosts) if allowed_hosts is not None else None
    for _hop in range(MAX_REDIRECTS + 1):
        resp = _send("GET", url, headers=None, params=None, json=None, data=None, files=None, auth=None,
                     deadline=deadline, max_bytes=max_bytes, https_only=True, allowed_hosts=hosts)
        location = resp.headers.get("Location")
        if resp.status in (301, 302, 303, 307, 308) and location:
            url = urljoin(url, location)
            continue
        if not resp.ok:
            raise ProviderError(f"Downloading the image failed (HTTP {resp.status}).", code="provider_error",
                                retryable=resp.status == 429 or resp.status >= 500, status=resp.status,
                                retry_after=retry_after(resp.headers))
        return resp
    raise ProviderError(f"Too many redirects (more than {MAX_REDIRECTS}) downloading the image.",
                        code="provider_error")


def _send(method: str, url: str, *, headers: dict[str, str] | None, params: dict | None, json: Any, data: Any,
          files: Any, auth: Any, deadline: float, max_bytes: int, https_only: bool,
          allowed_hosts: list[str] | None) -> HttpResponse:
    if UNSAFE_CHARS.search(url):  # before requests re-encodes it into something that looks harmless
        raise forbid(url, "spaces, control characters or backslashes")
    session = requests.Session()
    session.trust_env = False  # no proxies or .netrc from the environment: we dial what we validated
    session.headers["User-Agent"] = USER_AGENT
    try:
        prepared = session.prepare_request(requests.Request(
            method, url, headers=headers, params=params, json=json, data=data, files=files, auth=auth))
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, ValueError):
        session.close()
        raise forbid(url, "malformed URL") from None
    target = check_url(prepared.url or "", https_only=https_only, allowed_hosts=allowed_hosts)
    adapter = PinnedAdapter(target)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    started = time.monotonic()
    resp = None
    try:
        remaining = deadline - started
        if remaining <= 0:
            raise ProviderError(f"{_where(url)} did not answer in time.", code="timeout", retryable=True)
        resp = session.send(prepared, stream=True, allow_redirects=False, timeout=(CONNECT_TIMEOUT, remaining))
        body = b"" if resp.is_redirect else _read_capped(resp, max_bytes=max_bytes, deadline=deadline, url=url)
        log.info("%s %s -> %s (%d bytes, %.0f ms)", method, _where(url), resp.status_code, len(body),
                 (time.monotonic() - started) * 1000)
        return HttpResponse(status=resp.status_code, headers=resp.headers, content=body, url=prepared.url or url)
    except requests.exceptions.Timeout:
        raise ProviderError(f"{_where(url)} did not answer in time.", code="timeout", retryable=True) from None
    except requests.exceptions.SSLError:
        raise ProviderError(f"TLS failed talking to {_where(url)}.", code="provider_error") from None
    except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError):
        raise ProviderError(f"Could not connect to {_where(url)}.", code="provider_error", retryable=True) from None
    except requests.exceptions.RequestException as exc:
        raise ProviderError(f"Request to {_where(url)} failed ({type(exc).__name__}).", code="provider_error") \
            from None
    finally:
        if resp is not None:
            resp.close()
        session.close()


def _chunks(resp: requests.Response, *, max_bytes: int, deadline: float, url: str, what: str) -> Iterator[bytes]:
    """The body as it arrives, under one total deadline and one byte cap for the whole of it."""
    too_large = ProviderError(f"{_where(url)} sent a {what} larger than {max_bytes // MiB} MiB.",
                              code="provider_error", status=resp.status_code)
    raw, received = resp.raw, 0
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProviderError(f"{_where(url)} did not finish in time.", code="timeout", retryable=True)
            # A server dripping one byte at a time defeats a per-read timeout: shrink the socket timeout to
            # what is left of the total deadline, and read only what has arrived (read1) between checks.
            sock = getattr(getattr(raw, "connection", None), "sock", None)
            if sock is not None:
                sock.settimeout(max(remaining, 0.001))
            chunk = raw.read1(CHUNK, decode_content=True)
            if not chunk:
                return
            received += len(chunk)
            if received > max_bytes:
                raise too_large
            yield chunk
    except (TimeoutError, urllib3.exceptions.TimeoutError):
        raise ProviderError(f"{_where(url)} did not finish in time.", code="timeout", retryable=True) from None
    except (OSError, urllib3.exceptions.HTTPError):
        raise ProviderError(f"The connection to {_where(url)} broke.", code="provider_error",
                            retryable=True) from None


def _read_capped(resp: requests.Response, *, max_bytes: int, deadline: float, url: str) -> bytes:
    declared = resp.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        # Refuse before reading a byte; the count in _chunks still guards against a lying header.
        raise ProviderError(f"{_where(url)} sent a response larger than {max_bytes // MiB} MiB.",
                            code="provider_error", status=resp.status_code)
    return b"".join(_chunks(resp, max_bytes=max_bytes, deadline=deadline, url=url, what="response"))


class StreamingResponse:
    """An open streamed reply (chat models' server-sent events). Read it with lines(); on a non-2xx status read
    the (capped) error body with read(). The byte cap and the total deadline hold across the whole stream."""

    def __init__(self, resp: requests.Response, *, url: str, deadline: float, max_bytes: int) -> None:
        self._resp = resp
        self.status = resp.status_code
        self.headers = resp.headers
        self.url = url
        self._deadline = deadline
        self._max_bytes = max_bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def read(self) -> HttpResponse:
        body = _read_capped(self._resp, max_bytes=self._max_bytes, deadline=self._deadline, url=self.url)
        return HttpResponse(status=self.status, headers=self.headers, content=body, url=self.url)

    def lines(self) -> Iterable[str]:
        """Decoded lines without their line ending, as they arrive."""
        pending = b""
        for chunk in _chunks(self._resp, max_bytes=self._max_bytes, deadline=self._deadline, url=self.url,
                             what="stream"):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line.decode("utf-8", "replace").rstrip("\r")
        if pending:
            yield pending.decode("utf-8", "replace").rstrip("\r")


@contextmanager
def stream(method: str, url: str, *, headers: dict[str, str] | None = None, params: dict | None = None,
           json: Any = None, data: Any = None, files: Any = None, timeout_total: float = DEFAULT_DEADLINE,
           max_bytes: int = JSON_MAX_BYTES) -> Iterator[StreamingResponse]:
    """One streamed API call under the same rules as request(): validated and pinned address, no redirects,
    connect timeout, one total deadline and one byte cap for the whole body."""
    deadline = time.monotonic() + min(timeout_total, MAX_DEADLINE)
    if UNSAFE_CHARS.search(url):
        raise forbid(url, "spaces, control characters or backslashes")
    session = requests.Session()
    session.trust_env = False
    session.headers["User-Agent"] = USER_AGENT
    resp = None
    try:
        try:
            prepared = session.prepare_request(requests.Request(method, url, headers=headers, params=params,
                                                                json=json, data=data, files=files))
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, ValueError):
            raise forbid(url, "malformed URL") from None
        adapter = PinnedAdapter(check_url(prepared.url or ""))
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        try:
            resp = session.send(prepared, stream=True, allow_redirects=False,
                                timeout=(CONNECT_TIMEOUT, max(deadline - time.monotonic(), 0.001)))
        except requests.exceptions.Timeout:
            raise ProviderError(f"{_where(url)} did not answer in time.", code="timeout", retryable=True) from None
        except requests.exceptions.SSLError:
            raise ProviderError(f"TLS failed talking to {_where(url)}.", code="provider_error") from None
        except requests.exceptions.RequestException:
            raise ProviderError(f"Could not connect to {_where(url)}.", code="provider_error",
                                retryable=True) from None
        if 300 <= resp.status_code < 400:
            raise ProviderError(f"{_where(url)} answered with a redirect (HTTP {resp.status_code}); API calls do "
                                "not follow redirects.", code="provider_error", status=resp.status_code)
        log.info("%s %s -> %s (stream)", method, _where(url), resp.status_code)
        yield StreamingResponse(resp, url=prepared.url or url, deadline=deadline, max_bytes=max_bytes)
    finally:
        if resp is not None:
            resp.close()
        session.close()


def open_socket(url: str) -> tuple[socket.socket, Target]:
    """A TCP connection (TLS for https, verified against the URL's host name) to the validated address of `url`,
    for a protocol requests does not speak. The caller owns the socket and closes it."""
    target = check_url(url)
    try:
        sock = socket.create_connection((target.ip, target.port), timeout=CONNECT_TIMEOUT)
    except OSError:
        raise ProviderError(f"Could not connect to {_where(url)}.", code="provider_error", retryable=True) from None
    if target.scheme == "https":
        try:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=target.host)
        except (OSError, ssl.SSLError):
            sock.close()
            raise ProviderError(f"TLS failed talking to {_where(url)}.", code="provider_error") from None
    return sock, target


class WebSocket:
    """An open websocket: messages (str or bytes) under the connection's byte cap and one total deadline."""

    def __init__(self, conn: ClientConnection, *, url: str, deadline: float) -> None:
        self._conn = conn
        self.url = url
        self._deadline = deadline

    def recv(self, timeout: float) -> str | bytes | None:
        """The next message, or None if none came within `timeout`; ProviderError once closed or past the deadline."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise ProviderError(f"{_where(self.url)} did not finish in time.", code="timeout", retryable=True)
        try:
            return self._conn.recv(timeout=max(min(timeout, remaining), 0))
        except TimeoutError:
            return None
        except ConnectionClosed as exc:
            too_large = exc.sent is not None and exc.sent.code == 1009  # we closed it: "message too big"
            why = "a message over the size cap" if too_large else "the connection closed"
            raise ProviderError(f"The websocket to {_where(self.url)} ended ({why}).", code="provider_error",
                                retryable=True) from None

    def close(self) -> None:
        self._conn.close()  # never raises; waits at most close_timeout for the server's reply


def websocket(url: str, *, timeout_total: float = DEFAULT_DEADLINE, max_bytes: int = 4 * MiB) -> WebSocket:
    """A websocket to an http(s) URL (ws/wss on the wire) under the same rules as request(): validated and pinned
    address, no redirects and no proxies (a given socket rules both out in `websockets`), connect timeout, one total
    deadline, and a cap on each message (a bigger one closes the connection)."""
    deadline = time.monotonic() + min(timeout_total, MAX_DEADLINE)
    sock, target = open_socket(url)
    parts = urlsplit(url)
    host = f"[{target.host}]" if ":" in target.host else target.host
    # TLS is already on the socket, so the library speaks plain ws over it; the port stays explicit for the Host header.
    ws_url = f"ws://{host}:{target.port}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")
    try:
        # legacy=True: the documented way to hold the connection open beyond one `with` block.
        conn = ws_connect(ws_url, sock=sock, proxy=None, compression=None, max_size=max_bytes, max_queue=8,
                          open_timeout=CONNECT_TIMEOUT, close_timeout=2, user_agent_header=USER_AGENT,
                          legacy=True)
    except (OSError, TimeoutError, WebSocketException):
        sock.close()
        raise ProviderError(f"Could not open a websocket to {_where(url)}.", code="provider_error",
                            retryable=True) from None
    log.info("WEBSOCKET %s (open)", _where(url))
    return WebSocket(conn, url=url, deadline=deadline)
