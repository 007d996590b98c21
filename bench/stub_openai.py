"""A loopback stand-in for the OpenAI Images API, so the bench measures the product's real client path.

    python bench/stub_openai.py --port 8791 --sizes 1024,4096

The path carries the behaviour, so one stub serves every benchmark through different profile base URLs:
`POST /d<delay ms>/s<size>/v1/images/generations` sleeps <delay ms>, then answers like gpt-image models do
(`{"data": [{"b64_json": …}]}`) with a <size>² PNG built at start-up. Each answer is a different image (one pixel
differs, cycling through --variants of them), because the product stores images content-addressed: the same bytes
twice would skip the thumbnail and the write and flatter it. `GET /stats` returns every request's own handling
time (the "provider latency" the bench subtracts). No Django, standard library plus Pillow; it binds
127.0.0.1 only and runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image

ROUTE = re.compile(r"^/d(?P<delay>\d+)/s(?P<size>\d+)/v1/images/generations$")


def sample_image(size: int) -> Image.Image:
    """A deterministic picture that compresses about as well as a generated one (≈1 byte per pixel in PNG), not a
    flat colour that would make the product's decode and re-encode look free."""
    mandel = Image.effect_mandelbrot((size, size), (-2.2, -1.4, 0.8, 1.4), 100)
    noise = Image.effect_noise((size, size), 12)
    linear = Image.linear_gradient("L").resize((size, size))
    radial = Image.radial_gradient("L").resize((size, size))
    return Image.merge("RGB", [Image.blend(band, noise, 0.1) for band in (mandel, linear, radial)])


def png_bytes(img: Image.Image, compress_level: int = 6) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=compress_level)
    return out.getvalue()


def sample_png(size: int) -> bytes:
    return png_bytes(sample_image(size))


def variants(size: int, count: int) -> list[bytes]:
    """`count` PNGs of the sample picture, each with one pixel changed. Encoded fast (zlib level 1: larger files,
    as a provider's often are), since they are built at start-up."""
    base = sample_image(size)
    out = []
    for i in range(count):
        img = base.copy()
        img.putpixel((i % size, 0), (i * 37 % 256, i * 91 % 256, 255 - i % 256))
        out.append(png_bytes(img, compress_level=1))
    return out


class StubState:
    def __init__(self, sizes: list[int], count: int) -> None:
        self.bodies: dict[int, list[bytes]] = {}
        self.png_bytes: dict[int, int] = {}
        self.served: dict[int, int] = {}
        for size in sizes:
            pngs = variants(size, count if size <= 2048 else 1)  # big ones are for one-off memory checks
            self.png_bytes[size] = len(pngs[0])
            self.served[size] = 0
            self.bodies[size] = [
                json.dumps({"created": int(time.time()), "data": [{"b64_json": base64.b64encode(png).decode()}],
                            "usage": {"total_tokens": 0}}).encode()
                for png in pngs
            ]
        self.records: list[dict] = []
        self.lock = threading.Lock()

    def next_body(self, size: int) -> bytes:
        with self.lock:
            n = self.served[size]
            self.served[size] = n + 1
        bodies = self.bodies[size]
        return bodies[n % len(bodies)]


class Handler(BaseHTTPRequestHandler):
    server_version = "bench-openai-stub"
    protocol_version = "HTTP/1.1"
    state: StubState

    def log_message(self, format: str, *args) -> None:  # quiet: the bench prints its own table
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def do_GET(self) -> None:
        if self.path == "/stats":
            with self.state.lock:
                body = json.dumps({"requests": self.state.records, "png_bytes": self.state.png_bytes}).encode()
            self._send(200, body)
        elif self.path == "/health":
            self._send(200, b'{"ok": true}')
        else:
            self._send(404, b'{"error": {"message": "not found"}}')

    def do_POST(self) -> None:
        start = time.perf_counter()
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        match = ROUTE.match(self.path)
        if not match or int(match["size"]) not in self.state.bodies:
            self._send(404, b'{"error": {"message": "unknown stub route or size"}}')
            return
        if not self.headers.get("Authorization", "").startswith("Bearer "):
            self._send(401, b'{"error": {"message": "missing key", "code": "invalid_api_key"}}')
            return
        time.sleep(int(match["delay"]) / 1000)
        self._send(200, self.state.next_body(int(match["size"])))
        with self.state.lock:
            self.state.records.append({
                "size": int(match["size"]), "delay_ms": int(match["delay"]), "prompt": request.get("prompt", ""),
                "seconds": time.perf_counter() - start, "at": time.time(),
            })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sizes", default="1024", help="comma-separated square sizes to prepare")
    parser.add_argument("--variants", type=int, default=48, help="distinct images per size (≤ 2048 px)")
    args = parser.parse_args()
    Handler.state = StubState([int(s) for s in args.sizes.split(",")], args.variants)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"stub listening on 127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
