"""SECURITY.md T16–T25 and T23: the one outbound HTTP module (imagegen_site/http.py), tested from the outside.

Every test that sends a request talks to a real server on 127.0.0.1 (allowlisted for the test, as an operator
would allowlist a self-hosted A1111), and spies on socket.connect, so "what was dialled" is observed, not assumed.
DNS is never used: http.resolve_host is replaced by a table.
"""

import ast
import socket
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagegen_site import http
from images.providers.base import ProviderError

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_IP = "93.184.215.14"


@pytest.fixture
def dialled(monkeypatch):
    """Every address a socket connects to during the test."""
    seen = []
    inner = socket.socket.connect

    def spy(self, address):
        seen.append(address[0] if isinstance(address, tuple) else address)
        return inner(self, address)

    monkeypatch.setattr(socket.socket, "connect", spy)
    return seen


@pytest.fixture
def dns(monkeypatch):
    """A fake resolver: name -> list of answers (or a list of lists, one per lookup). Lookups are counted."""
    table, calls = {}, []

    def resolve(host, port):
        calls.append(host)
        answer = table.get(host)
        if answer is None:
            raise socket.gaierror("unknown name")
        return answer.pop(0) if answer and isinstance(answer[0], list) else answer

    monkeypatch.setattr(http, "resolve_host", resolve)
    return table, calls


class Server:
    """A loopback HTTP server whose handler the test scripts: path -> (status, headers, body or iterator)."""

    def __init__(self):
        routes = self.routes = {}

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                status, headers, body = routes.get(self.path, (404, {}, b"missing"))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if isinstance(body, bytes):
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.end_headers()
                try:
                    for chunk in body:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_POST = do_GET

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(settings):
    s = Server()
    settings.IMAGEGEN_PRIVATE_ALLOWLIST = [f"127.0.0.1:{s.port}", f"selfhosted.test:{s.port}"]
    yield s
    s.close()


# ---------------------------------------------------------------- T16: literal hosts that are not public

FORBIDDEN_HOSTS = ["127.0.0.1", "localhost", "[::1]", "0.0.0.0", "0", "2130706433", "0177.0.0.1", "127.1",
                   "0x7f.1", "169.254.169.254", "10.0.0.1", "172.16.0.1", "192.168.1.1", "100.64.0.1", "[fc00::1]",
                   "[fe80::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[64:ff9b::a9fe:a9fe]", "[2002:7f00:1::]",
                   "metadata.google.internal", "something.internal", "printer.local"]


@pytest.mark.parametrize("host", FORBIDDEN_HOSTS)
def test_t16_non_public_literal_hosts_are_url_forbidden_and_never_dialled(host, dialled, dns):
    for url in (f"http://{host}/v1/images", f"https://{host}:8443/x"):
        with pytest.raises(ProviderError) as info:
            http.check_url(url)
        assert info.value.code == "url_forbidden", url
        with pytest.raises(ProviderError) as info:
            http.request("POST", url, json={"prompt": "x"}, timeout_total=2)
        assert info.value.code == "url_forbidden"
    assert dialled == [] and dns[1] == []


# ---------------------------------------------------------------- T17: names, rebinding, pinning

def test_t17_a_name_resolving_to_a_private_address_is_refused(dns, dialled):
    dns[0]["images.example"] = ["10.0.0.5"]
    with pytest.raises(ProviderError, match="private") as info:
        http.request("GET", "https://images.example/x", timeout_total=2)
    assert info.value.code == "url_forbidden" and dialled == []


def test_t17_one_private_answer_among_public_ones_is_refused(dns, dialled):
    dns[0]["images.example"] = [PUBLIC_IP, "127.0.0.1"]
    with pytest.raises(ProviderError) as info:
        http.request("GET", "https://images.example/x", timeout_total=2)
    assert info.value.code == "url_forbidden" and dialled == []


def test_t17_the_socket_dials_the_address_that_was_validated_and_dns_is_asked_once(server, dns, dialled):
    # First answer loopback (allowlisted for this name and port), then a rebinding answer that must never be used.
    dns[0]["selfhosted.test"] = [["127.0.0.1"], ["10.9.9.9"], ["10.9.9.9"]]
    server.routes["/sdapi/v1/txt2img"] = (200, {"Content-Type": "application/json"}, b'{"images": []}')
    resp = http.request("POST", f"http://selfhosted.test:{server.port}/sdapi/v1/txt2img", json={}, timeout_total=5)
    assert resp.status == 200 and resp.json() == {"images": []}
    assert dns[1] == ["selfhosted.test"]
    assert dialled and set(dialled) == {"127.0.0.1"}


# ---------------------------------------------------------------- T18: redirects

def test_t18_api_calls_do_not_follow_redirects(server, dialled):
    server.routes["/api"] = (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b"")
    with pytest.raises(ProviderError) as info:
        http.request("GET", f"http://127.0.0.1:{server.port}/api", timeout_total=5)
    assert info.value.code == "provider_error" and "redirect" in info.value.message
    assert set(dialled) == {"127.0.0.1"}


def test_t18_a_download_redirected_to_the_metadata_address_is_url_forbidden(dns, dialled, monkeypatch):
    # Downloads are https-only; the first hop is a public name answered by `responses`, the redirect is judged.
    import responses

    dns[0]["cdn.example"] = [PUBLIC_IP]
    with responses.RequestsMock() as mock:
        mock.get("https://cdn.example/img.png", status=302, headers={"Location": "https://169.254.169.254/latest/"})
        with pytest.raises(ProviderError) as info:
            http.download("https://cdn.example/img.png")
    assert info.value.code == "url_forbidden"


def test_t18_a_chain_of_four_redirects_is_refused(dns):
    import responses

    dns[0]["cdn.example"] = [PUBLIC_IP]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for i in range(5):
            mock.get(f"https://cdn.example/{i}", status=302, headers={"Location": f"https://cdn.example/{i + 1}"})
        with pytest.raises(ProviderError, match="redirects"):
            http.download("https://cdn.example/0")
        assert len(mock.calls) == http.MAX_REDIRECTS + 1


# ---------------------------------------------------------------- T19: parser confusion, T20: schemes

PARSER_CORPUS = ["http://a.com\\@127.0.0.1/", "http://127.0.0.1#@a.com/", "http://a@127.0.0.1:80@b.com/",
                 "http://user:pass@a.com/", "http://a.com\t@127.0.0.1/", "http://a.com\n.127.0.0.1/",
                 "http://127.0.0.1\x00.a.com/", "http://127.0.0.1./", "http://[::1]./", "http://127.0.0.1 /",
                 "http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/", "http://%6c%6f%63%61%6c%68%6f%73%74/", "http://0x7f000001/",
                 "http://127.000.000.001/", "http:/127.0.0.1/", "http:127.0.0.1/", "//127.0.0.1/"]


@pytest.mark.parametrize("url", PARSER_CORPUS)
def test_t19_urls_that_parsers_read_differently_never_reach_loopback(url, dialled, dns):
    dns[0].update({"a.com": [PUBLIC_IP], "b.com": [PUBLIC_IP], "localhost": ["127.0.0.1"]})
    try:
        target = http.check_url(url)
    except ProviderError as e:
        assert e.code == "url_forbidden"
    else:
        assert target.ip == PUBLIC_IP, (url, target)
    with pytest.raises(ProviderError):
        http.request("GET", url, timeout_total=1)
    assert "127.0.0.1" not in dialled and "::1" not in dialled


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://a.com/", "ftp://a.com/x.png", "data:image/png;base64,AA",
                                 "http+unix://%2Fvar%2Frun%2Fdocker.sock/", "javascript:alert(1)", "dict://a.com:11211/"])
def test_t20_schemes_other_than_http_and_https_are_url_forbidden(url, dialled):
    with pytest.raises(ProviderError) as info:
        http.check_url(url)
    assert info.value.code == "url_forbidden"
    with pytest.raises(ProviderError):
        http.download(url)
    assert dialled == []


# ---------------------------------------------------------------- T21: the operator's allowlist

def test_t21_a_private_server_needs_the_operators_allowlist_with_the_same_port(settings, dialled):
    settings.IMAGEGEN_PRIVATE_ALLOWLIST = []
    with pytest.raises(ProviderError, match="IMAGEGEN_PRIVATE_ALLOWLIST"):
        http.check_url("http://192.168.1.50:7860/")
    settings.IMAGEGEN_PRIVATE_ALLOWLIST = ["192.168.1.50:7860"]
    assert http.check_url("http://192.168.1.50:7860/sdapi/v1/txt2img").ip == "192.168.1.50"
    for other in ("http://192.168.1.50:7861/", "http://192.168.1.50/", "http://192.168.1.51:7860/"):
        with pytest.raises(ProviderError):
            http.check_url(other)
    settings.IMAGEGEN_PRIVATE_ALLOWLIST = ["192.168.1.50"]  # no port: allows nothing
    with pytest.raises(ProviderError):
        http.check_url("http://192.168.1.50:80/")
    settings.IMAGEGEN_PRIVATE_ALLOWLIST = ["169.254.169.254:80"]  # the metadata address stays refused
    with pytest.raises(ProviderError):
        http.check_url("http://169.254.169.254/")
    assert dialled == []


# ---------------------------------------------------------------- T23: one module imports HTTP clients

HTTP_CLIENTS = {"requests", "httpx", "urllib3", "aiohttp", "urllib.request", "http.client", "pycurl",
                "websockets", "websocket"}  # ComfyUI's progress websocket goes through http.websocket() too
ALLOWED = {"imagegen_site/http.py"}
# Not product code: tests stub or drive HTTP, the benchmark tools load-test a server on 127.0.0.1.
NOT_PRODUCT = ("tests/", "bench/", ".venv/", "var/")


def product_modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if not rel.startswith(NOT_PRODUCT) and "/migrations/" not in rel:
            yield rel, path


def imported_http_clients(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            names = [str(node.args[0].value)]
        for name in names:
            for client in HTTP_CLIENTS:
                if name == client or name.startswith(client + "."):
                    found.add(client)
    return found


def test_t23_only_imagegen_site_http_imports_an_http_client():
    offenders = {rel: sorted(found) for rel, path in product_modules()
                 if rel not in ALLOWED and (found := imported_http_clients(path.read_text()))}
    assert not offenders, f"outbound HTTP must go through imagegen_site/http.py: {offenders}"
    assert "requests" in imported_http_clients((ROOT / "imagegen_site/http.py").read_text())


@pytest.mark.parametrize("source", ["import requests", "import httpx as h", "from urllib.request import urlopen",
                                    "from urllib import request", "import http.client", "from requests.adapters import X",
                                    "importlib.import_module('httpx')", "__import__('urllib3')",
                                    "from websockets.sync.client import connect"])
def test_t23_the_scan_sees_every_import_form(source):
    assert imported_http_clients(source)


# ---------------------------------------------------------------- T24: byte caps, T25: deadlines

def test_t24_an_endless_chunked_body_is_cut_at_the_cap_with_bounded_memory(server):
    endless = (b"x" * 65536 for _ in range(10**6))  # 64 GiB if read to the end
    server.routes["/big"] = (200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                             (b"%x\r\n%s\r\n" % (len(c), c) for c in endless))
    tracemalloc.start()
    try:
        with pytest.raises(ProviderError, match="larger than 2 MiB"):
            http.request("GET", f"http://127.0.0.1:{server.port}/big", max_bytes=2 * http.MiB, timeout_total=20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * http.MiB, f"peak {peak / http.MiB:.1f} MiB"


def test_t24_a_declared_10_gib_body_is_refused_before_reading(server):
    server.routes["/liar"] = (200, {"Content-Length": str(10 * 1024**3)}, iter([b"{}"]))
    with pytest.raises(ProviderError, match="larger than"):
        http.request("GET", f"http://127.0.0.1:{server.port}/liar", timeout_total=10)


def test_t25_a_server_dripping_bytes_hits_the_total_deadline(server):
    def drip():
        for _ in range(100):
            yield b"x"
            time.sleep(0.25)

    server.routes["/drip"] = (200, {"Content-Type": "application/json"}, drip())
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        http.request("GET", f"http://127.0.0.1:{server.port}/drip", timeout_total=1.5)
    elapsed = time.monotonic() - started
    assert info.value.code == "timeout" and info.value.retryable
    assert elapsed < 3.5, f"took {elapsed:.1f} s for a 1.5 s deadline"


def test_t25_the_deadline_is_capped_and_the_connect_timeout_is_5_s():
    assert http.CONNECT_TIMEOUT == 5.0 and http.DEFAULT_DEADLINE == 180.0 and http.MAX_DEADLINE == 600.0


# ---------------------------------------------------------------- fuzzing the validator

def _ipv4_spellings(ip: int):
    a, b, c, d = ip.to_bytes(4, "big")
    return st.sampled_from([f"{a}.{b}.{c}.{d}", str(ip), hex(ip), f"0{a:o}.{b}.{c}.{d}", f"{a}.{(b << 16) + (c << 8) + d}",
                            f"[::ffff:{a}.{b}.{c}.{d}]", f"{a}.{b}.{c}.{d}."])


PRIVATE_V4 = st.one_of(st.integers(0x7F000000, 0x7FFFFFFF), st.integers(0x0A000000, 0x0AFFFFFF),
                       st.integers(0xAC100000, 0xAC1FFFFF), st.integers(0xC0A80000, 0xC0A8FFFF),
                       st.integers(0xA9FE0000, 0xA9FEFFFF), st.integers(0x64400000, 0x647FFFFF),
                       st.integers(0x00000000, 0x00FFFFFF))


@pytest.mark.fuzz
@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(host=PRIVATE_V4.flatmap(_ipv4_spellings), scheme=st.sampled_from(["http", "https", "HTTP"]),
       port=st.sampled_from(["", ":80", ":443", ":7860"]), path=st.sampled_from(["/", "/x?a=b", ""]))
def test_t16_fuzz_no_spelling_of_a_private_ipv4_address_is_allowed(host, scheme, port, path):
    with pytest.raises(ProviderError) as info:
        http.check_url(f"{scheme}://{host}{port}{path}")
    assert info.value.code == "url_forbidden"
