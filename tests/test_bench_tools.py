"""The bench's own parts (bench/): the loopback OpenAI stub speaks a wire format the real client accepts, only
through the operator allowlist; the raw pipeline does its work; wrk's output is read correctly.

The benchmarks themselves run with `./run bench`, not here.
"""

import base64
import io
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from bench import load, pipeline
from bench.stub_openai import sample_png
from images.providers import ImageRequest, ProviderError, get_provider

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def stub():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "bench/stub_openai.py", "--port", str(port), "--sizes", "64"], cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the stub did not start")
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_openai_client_gets_an_image_from_the_stub_through_the_allowlist(stub, settings):
    settings.IMAGEGEN_PRIVATE_ALLOWLIST = [f"127.0.0.1:{stub}"]
    provider = get_provider("openai", api_key="sk-bench", base_url=f"http://127.0.0.1:{stub}/d50/s64/v1")
    result = provider.generate(ImageRequest(prompt="bench stub check", model="gpt-image-1"))
    (image,) = result.images
    assert image.mime_type == "image/png"
    assert Image.open(io.BytesIO(image.data)).size == (64, 64)
    stats = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{stub}/stats").read())
    record = next(r for r in stats["requests"] if r["prompt"] == "bench stub check")
    assert record["delay_ms"] == 50 and record["seconds"] >= 0.05


def test_the_stub_is_refused_without_the_allowlist(stub, settings):
    settings.IMAGEGEN_PRIVATE_ALLOWLIST = []
    provider = get_provider("openai", api_key="sk-bench", base_url=f"http://127.0.0.1:{stub}/d0/s64/v1")
    with pytest.raises(ProviderError) as e:
        provider.generate(ImageRequest(prompt="x", model="gpt-image-1"))
    assert e.value.code == "url_forbidden"


def test_raw_pipeline_writes_the_image_and_a_512px_webp_thumbnail(tmp_path):
    png = sample_png(1024)
    pipeline.raw_pipeline(base64.b64encode(png).decode(), tmp_path)
    files = sorted(p.suffix for p in tmp_path.iterdir())
    assert files == [".png", ".webp"]
    thumb = Image.open(next(tmp_path.glob("*.webp")))
    assert max(thumb.size) == 512
    assert Image.open(next(tmp_path.glob("*.png"))).size == (1024, 1024)


def test_wrk_output_is_parsed(monkeypatch):
    out = """Running 10s test @ http://127.0.0.1:8000/chats/1/
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    45.10ms   10.02ms 180.00ms   80.00%
    Req/Sec   177.00     20.00   210.00     70.00%
  Latency Distribution
     50%   44.00ms
     75%   50.00ms
     90%  612.00us
     99%    1.20s
  3540 requests in 10.01s, 150.00MB read
  Non-2xx or 3xx responses: 7
Requests/sec:    353.64
Transfer/sec:     14.99MB
"""

    class Done:
        stdout = out

    monkeypatch.setattr(load.subprocess, "run", lambda *a, **k: Done())
    got = load.run_wrk(load.Client(8000, {"sessionid": "s"}), "/chats/1/", threads=2, connections=16, duration_s=10)
    assert got["rps"] == 353.64 and got["requests"] == 3540 and got["non_2xx"] == 7
    assert got["p50_ms"] == pytest.approx(44.0) and got["p90_ms"] == pytest.approx(0.612)
    assert got["p99_ms"] == pytest.approx(1200.0)


def test_p7_finds_what_a_browser_fetches_for_a_page():
    from bench import pageweight

    html = """<link rel="icon" href="/static/fav.svg"><link rel="stylesheet" href="/static/a.css">
    <link rel="preconnect" href="https://x"><script src="/static/app.js" defer></script><script>inline()</script>
    <img src="/images/1/thumb/" loading="lazy"><img src="/images/1/thumb/"><img src="data:image/gif;base64,R0">"""
    assert pageweight.page_subresources(html) == [
        ("icon", "/static/fav.svg"), ("css", "/static/a.css"), ("js", "/static/app.js"), ("img", "/images/1/thumb/")]
    css = ('.x{background:url(bg.png)}@font-face{font-display:block;font-family:bi;'
           'src:url("./fonts/bi.woff2?1a") format("woff2"),url(./fonts/bi.woff?1a) format("woff")}')
    assert pageweight.css_fonts(css) == ["./fonts/bi.woff2?1a"]


def test_p7_reads_caching_headers_as_a_browser_does():
    import gzip

    from bench import pageweight

    verdict = pageweight.repeat_visit
    assert verdict({"Cache-Control": "private, max-age=86400, immutable"}) == "cache"
    assert verdict({"Cache-Control": "max-age=315360000, public, immutable"}) == "cache"
    assert verdict({"Cache-Control": "private, no-store", "ETag": '"a"'}) == "fetch"
    assert verdict({"Cache-Control": "no-cache", "ETag": '"a"'}) == "revalidate"
    assert verdict({"Cache-Control": "max-age=0", "Last-Modified": "Sat, 21 Nov 2026 10:00:00 GMT"}) == "revalidate"
    assert verdict({}) == "fetch"
    assert pageweight.conditional_headers({"ETag": '"a"', "Last-Modified": "Sat, 21 Nov 2026 10:00:00 GMT"}) == {
        "If-None-Match": '"a"', "If-Modified-Since": "Sat, 21 Nov 2026 10:00:00 GMT"}
    assert pageweight.decoded(gzip.compress(b"body{}"), "gzip") == b"body{}"
    assert pageweight.decoded(b"body{}", "") == b"body{}"
    with pytest.raises(ValueError):
        pageweight.decoded(b"x", "br")
