"""The outbound HTTP module: SSRF rules (SECURITY.md T16–T21), redirects, byte caps and deadlines (T24–T25)."""

from __future__ import annotations

import io
import logging
import pathlib
import re
import tracemalloc
from types import SimpleNamespace

import pytest
import requests
import responses
import urllib3.util.connection

from imagegen_site import http as safe_http
from images.providers.base import ProviderError

from .support import PUBLIC_IP, EndlessBody, MiB

PRIVATE_HOSTS = [
    "http://127.0.0.1/", "http://localhost/", "http://[::1]/", "http://0.0.0.0/", "http://0/",
    "http://2130706433/", "http://0177.0.0.1/", "http://127.1/", "http://0x7f.1/", "http://169.254.169.254/latest/",
    "http://10.0.0.1/", "http://172.16.0.1/", "http://192.168.1.1/", "http://100.64.0.1/", "http://[fc00::1]/",
    "http://[fe80::1]/", "http://[::ffff:127.0.0.1]/", "http://metadata.google.internal/computeMetadata/v1/",
    "http://[64:ff9b::7f00:1]/", "http://[2002:7f00:1::]/", "http://printer.local/", "http://db.internal/",
]


@pytest.mark.parametrize("url", PRIVATE_HOSTS)
def test_it_refuses_private_loopback_and_metadata_hosts(url: str, http: responses.RequestsMock) -> None:
    with pytest.raises(ProviderError) as exc:
        safe_http.request("GET", url)
    assert exc.value.code == "url_forbidden"
    assert len(http.calls) == 0


@pytest.mark.parametrize("url", [
    "http://a.com\\@127.0.0.1/", "http://127.0.0.1#@a.com", "http://a@127.0.0.1:80@b.com/", "http://user:pw@a.com/",
    "http://exa\tmple.com/", "http://example.com/\nHost: 127.0.0.1", "http://example.com:99999/", "http:///nohost",
])
def test_it_refuses_urls_that_parsers_read_differently(url: str, http: responses.RequestsMock) -> None:
    with pytest.raises(ProviderError) as exc:
        safe_http.request("GET", url)
    assert exc.value.code == "url_forbidden"
    assert len(http.calls) == 0


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://example.com/", "ftp://example.com/x",
                                 "data:text/plain,hi", "http+unix://%2Fvar%2Frun%2Fdocker.sock/info"])
def test_it_refuses_schemes_other_than_http_and_https(url: str) -> None:
    with pytest.raises(ProviderError) as exc:
        safe_http.request("GET", url)
    assert exc.value.code == "url_forbidden"


def test_it_refuses_a_name_that_resolves_to_a_private_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(safe_http, "resolve_host", lambda host, port: ["10.0.0.5"])
    with pytest.raises(ProviderError) as exc:
        safe_http.request("GET", "https://innocent.example.com/")
    assert exc.value.code == "url_forbidden"
    assert "IMAGEGEN_PRIVATE_ALLOWLIST" in exc.value.message


def test_it_refuses_when_any_dns_answer_is_private(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(safe_http, "resolve_host", lambda host, port: [PUBLIC_IP, "127.0.0.1"])
    with pytest.raises(ProviderError) as exc:
        safe_http.request("GET", "https://rebind.example.com/")
    assert exc.value.code == "url_forbidden"


def test_it_calls_a_public_host_and_returns_status_headers_and_body(http: responses.RequestsMock) -> None:
    http.get("https://api.example.com/v1/thing", json={"ok": True}, headers={"x-request-id": "req_1"})
    resp = safe_http.request("GET", "https://api.example.com/v1/thing", headers={"Authorization": "Bearer k"})
    assert (resp.status, resp.json(), resp.headers["X-Request-Id"]) == (200, {"ok": True}, "req_1")
    assert http.calls[0].request.headers["Authorization"] == "Bearer k"
    assert http.calls[0].request.headers["User-Agent"] == "imagegen/1.0"


def test_it_returns_error_replies_for_the_provider_to_map(http: responses.RequestsMock) -> None:
    http.post("https://api.example.com/x", status=400, body="error code: 1015", content_type="text/plain")
    resp = safe_http.request("POST", "https://api.example.com/x", json={})
    assert resp.status == 400 and resp.json_or_none() is None
    with pytest.raises(ProviderError) as exc:
        resp.json()
    assert exc.value.code == "provider_error"


def test_it_judges_the_punycode_host_without_the_trailing_dot(http: responses.RequestsMock,
                                                              public_dns: list[tuple[str, int]]) -> None:
    http.get("https://xn--bcher-kva.example./x", body="{}")
    safe_http.request("GET", "https://bücher.example./x")
    assert public_dns == [("xn--bcher-kva.example", 443)]


@pytest.mark.real_transport
def test_it_dials_the_validated_address_and_resolves_only_once(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter([[PUBLIC_IP], ["127.0.0.1"]])  # DNS rebinding: the second answer would be loopback
    lookups = []
    monkeypatch.setattr(safe_http, "resolve_host", lambda host, port: lookups.append(host) or next(answers))
    dialled = []

    def spy(address: tuple[str, int], *args: object, **kwargs: object) -> None:
        dialled.append(address)
        raise ConnectionRefusedError("spy: no network in tests")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", spy)
    with pytest.raises(ProviderError) as exc:
        safe_http.request("GET", "https://rebind.example.com:8443/x")
    assert (exc.value.code, exc.value.retryable) == ("provider_error", True)
    assert dialled == [(PUBLIC_IP, 8443)]
    assert lookups == ["rebind.example.com"]


@pytest.mark.real_transport
def test_it_never_dials_a_forbidden_host(monkeypatch: pytest.MonkeyPatch) -> None:
    dialled = []
    monkeypatch.setattr(urllib3.util.connection, "create_connection", lambda *a, **k: dialled.append(a))
    for url in ("http://127.0.0.1:8080/", "http://2130706433/", "http://[::ffff:127.0.0.1]/"):
        with pytest.raises(ProviderError):
            safe_http.request("GET", url)
    assert dialled == []


def test_it_keeps_the_host_name_for_sni_and_host_while_pinning_the_ip() -> None:
    target = safe_http.check_url("https://api.example.com/x")
    adapter = safe_http.PinnedAdapter(target)
    pool = adapter.get_connection_with_tls_context(requests.Request("GET", "https://api.example.com/x").prepare(),
                                                   verify=True)
    conn = pool._new_conn()  # builds the connection object; nothing is dialled until a request is sent
    assert (conn.host, conn.pinned_ip, conn.port) == ("api.example.com", PUBLIC_IP, 443)


def test_it_allows_an_allowlisted_private_host_and_port_only(http: responses.RequestsMock, allowlist: object,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    allowlist("127.0.0.1:7860", "comfy.lan:8188", "169.254.169.254:80")  # type: ignore[operator]
    http.get("http://127.0.0.1:7860/sdapi/v1/sd-models", json=[])
    assert safe_http.request("GET", "http://127.0.0.1:7860/sdapi/v1/sd-models").status == 200
    for url in ("http://127.0.0.1:7861/", "http://127.0.0.2:7860/", "http://169.254.169.254/latest/"):
        with pytest.raises(ProviderError) as exc:
            safe_http.request("GET", url)
        assert exc.value.code == "url_forbidden", url
    monkeypatch.setattr(safe_http, "resolve_host", lambda host, port: ["192.168.1.50"])
    http.get("http://comfy.lan:8188/system_stats", json={})
    assert safe_http.request("GET", "http://comfy.lan:8188/system_stats").status == 200


def test_it_does_not_follow_redirects_on_api_calls(http: responses.RequestsMock) -> None:
    http.post("https://api.example.com/x", status=302, headers={"Location": "http://169.254.169.254/"})
    with pytest.raises(ProviderError) as exc:
        safe_http.request("POST", "https://api.example.com/x", json={})
    assert exc.value.code == "provider_error" and "redirect" in exc.value.message
    assert len(http.calls) == 1


def test_it_refuses_a_download_redirected_to_the_metadata_address(http: responses.RequestsMock) -> None:
    http.get("https://cdn.example.com/a.png", status=302, headers={"Location": "http://169.254.169.254/latest/"})
    with pytest.raises(ProviderError) as exc:
        safe_http.download("https://cdn.example.com/a.png")
    assert exc.value.code == "url_forbidden"


def test_it_follows_up_to_three_download_redirects_rechecking_each(http: responses.RequestsMock) -> None:
    http.get("https://cdn.example.com/1", status=302, headers={"Location": "/2"})
    http.get("https://cdn.example.com/2", status=301, headers={"Location": "https://img.example.com/3"})
    http.get("https://img.example.com/3", status=307, headers={"Location": "https://img.example.com/4"})
    http.get("https://img.example.com/4", body=b"image")
    resp = safe_http.download("https://cdn.example.com/1", allowed_hosts=["*.example.com"])
    assert resp.content == b"image"


def test_it_stops_after_three_download_redirects(http: responses.RequestsMock) -> None:
    for i in range(1, 5):
        http.get(f"https://cdn.example.com/{i}", status=302, headers={"Location": f"/{i + 1}"})
    with pytest.raises(ProviderError) as exc:
        safe_http.download("https://cdn.example.com/1")
    assert exc.value.code == "provider_error" and "Too many redirects" in exc.value.message


@pytest.mark.parametrize("url", ["http://cdn.example.com/a.png", "https://evil.example.net/a.png"])
def test_it_downloads_only_over_https_from_the_providers_hosts(url: str) -> None:
    with pytest.raises(ProviderError) as exc:
        safe_http.download(url, allowed_hosts=["cdn.example.com", "*.blob.core.windows.net"])
    assert exc.value.code == "url_forbidden"


def test_it_refuses_a_40_mib_body_without_reading_it_all(http: responses.RequestsMock) -> None:
    body = EndlessBody(40 * MiB)
    http.get("https://api.example.com/huge", body=io.BufferedReader(body), content_type="application/json")
    tracemalloc.start()
    try:
        with pytest.raises(ProviderError) as exc:
            safe_http.request("GET", "https://api.example.com/huge")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert exc.value.code == "provider_error" and "larger than 32 MiB" in exc.value.message
    assert body.served <= 32 * MiB + 256 * 1024  # stopped just past the cap
    assert peak < 64 * MiB


def test_it_refuses_a_declared_oversized_body_before_reading_a_byte(http: responses.RequestsMock) -> None:
    body = EndlessBody(40 * MiB)
    http.get("https://cdn.example.com/big.png", body=io.BufferedReader(body), content_type="image/png",
             headers={"Content-Length": str(40 * MiB)})
    with pytest.raises(ProviderError) as exc:
        safe_http.download("https://cdn.example.com/big.png")
    assert "larger than 20 MiB" in exc.value.message
    assert body.served == 0


def test_it_gives_up_on_a_body_that_drips_past_the_total_deadline(http: responses.RequestsMock,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter(range(0, 10_000, 10))  # every look at the clock is 10 s later: a slow drip
    monkeypatch.setattr(safe_http, "time", SimpleNamespace(monotonic=lambda: next(ticks), time=lambda: 0.0))
    http.get("https://api.example.com/slow", body=io.BufferedReader(EndlessBody(MiB), buffer_size=16))
    with pytest.raises(ProviderError) as exc:
        safe_http.request("GET", "https://api.example.com/slow", timeout_total=45)
    assert (exc.value.code, exc.value.retryable) == ("timeout", True)


@pytest.mark.parametrize(("error", "code"), [
    (requests.exceptions.ConnectTimeout(), "timeout"),
    (requests.exceptions.ReadTimeout(), "timeout"),
    (requests.exceptions.ConnectionError(), "provider_error"),
])
def test_it_maps_transport_failures_to_retryable_taxonomy_codes(error: Exception, code: str,
                                                               http: responses.RequestsMock) -> None:
    http.get("https://api.example.com/x", body=error)
    with pytest.raises(ProviderError) as exc:
        safe_http.request("GET", "https://api.example.com/x")
    assert (exc.value.code, exc.value.retryable) == (code, True)


def test_it_parses_retry_after_ms_seconds_and_dates() -> None:
    from requests.structures import CaseInsensitiveDict as H

    assert safe_http.retry_after(H({"retry-after-ms": "1500", "Retry-After": "9"})) == 1.5
    assert safe_http.retry_after(H({"Retry-After": "20"})) == 20.0
    assert safe_http.retry_after(H({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0  # in the past
    assert safe_http.retry_after(H({"Retry-After": "soon"})) is None
    assert safe_http.retry_after(H({})) is None


def test_it_never_logs_the_authorization_header(http: responses.RequestsMock, caplog: pytest.LogCaptureFixture) -> None:
    http.post("https://api.example.com/x?token=q-secret", status=401, json={"error": "Bearer sk-secret-123 bad"})
    with caplog.at_level(logging.DEBUG):
        safe_http.request("POST", "https://api.example.com/x?token=q-secret",
                          headers={"Authorization": "Bearer sk-secret-123"}, json={})
    assert caplog.records, "the call is logged"
    assert not any("sk-secret" in r.getMessage() or "q-secret" in r.getMessage() for r in caplog.records)


def test_it_is_the_only_module_that_imports_requests() -> None:
    root = pathlib.Path(safe_http.__file__).resolve().parent.parent
    files = [p for folder in ("images", "imagegen_site") for p in (root / folder).rglob("*.py")]
    offenders = [str(p.relative_to(root)) for p in files if p.name != "http.py"
                 and re.search(r"^\s*(import requests|from requests)", p.read_text(), re.M)]
    assert offenders == []
