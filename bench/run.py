#!/usr/bin/env python
"""Every benchmark of issue 10 in one run, each figure beside a reference measured in the same run.

    ./run bench                      (or: .venv/bin/python bench/run.py [--quick] [--keep])

It starts what a user starts (gunicorn with the project's WSGI app and `manage.py db_worker` processes, the same
command lines as `manage.py serve`) plus a loopback OpenAI-compatible stub (bench/stub_openai.py), all on
127.0.0.1, on a throw-away IMAGEGEN_DATA_DIR (SQLite, the embedded default), with bounded request counts and
durations, and stops every process by its PID at the end. The reference views live in bench.refapp and are only
routed by bench.settings. Absolute times on a shared machine are noise: the ratios are the figures.
Writes bench/results/latest.json and latest.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import load as L  # noqa: E402
from bench import pipeline  # noqa: E402
from bench.stub_openai import variants  # noqa: E402

PASSWORD = "bench-pass-123"
ALL = ("p1", "p2", "p3", "p4", "p5", "p6", "p7")
PY = sys.executable
# The bench always runs the embedded default; these would point it at a real deployment's services.
FOREIGN_ENV = ("DATABASE_URL", "REDIS_URL", "TASKS_BACKEND", "MEDIA_ROOT", "STATIC_ROOT", "SECRET_KEY",
               "FIELD_ENCRYPTION_KEYS", "DJANGO_SETTINGS_MODULE")


def log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """Every process the bench starts, stopped by PID (SIGTERM, then SIGKILL after a grace period)."""

    def __init__(self, env: dict, logs: Path) -> None:
        self.env, self.logs = env, logs
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, cmd: list[str]) -> subprocess.Popen:
        out = open(self.logs / f"{name}.log", "ab")
        proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.running[name] = proc
        return proc

    def stop(self, *names: str, grace_s: float = 15) -> None:
        procs = {n: self.running.pop(n) for n in (names or list(self.running)) if n in self.running}
        for proc in procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for name, proc in procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{name} (pid {proc.pid}) ignored SIGTERM; killing it")
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()

    def check_alive(self) -> None:
        for name, proc in self.running.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.logs / (name + '.log')}")


def manage(env: dict, *args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True)


def wait_http(port: int, path: str, procs: Processes, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        procs.check_alive()
        try:
            status, *_ = L.Client(port).request("GET", path)
            if status < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port}{path} within {timeout_s:.0f} s")


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


# ---------------------------------------------------------------------------------------------------- fixtures

def make_driver(stub_port: int):
    """The signed-in user who drives the bench: an OpenAI key and three profiles pointing at the stub, a chat
    with 20 turns (10 images, 10 text answers) for the chat-page figures, and empty chats for posting into."""
    from django.contrib.auth import get_user_model

    from chats.models import Chat, Message
    from chats.services import NO_CHAT_MODEL_REPLY
    from images.models import GeneratedImage, Generation
    from profiles.models import ApiKey, ImageProfile

    user = get_user_model().objects.create_user("bench-driver", password=PASSWORD)
    key = ApiKey(owner=user, provider="openai", label="bench stub")
    key.set_secret("sk-bench-stub-key-0000")
    key.save()
    for name, delay_ms, size in (("stub-fast", 0, 1024), ("stub-2s", 2000, 1024), ("stub-4096", 0, 4096)):
        ImageProfile.objects.create(owner=user, name=name, provider="openai", api_key=key, model="gpt-image-1",
                                    base_url=f"http://127.0.0.1:{stub_port}/d{delay_ms}/s{size}/v1")
    for i in range(16):
        Chat.objects.create(owner=user, title=f"Older chat {i}")
    page_chat = Chat.objects.create(owner=user, title="A chat with 20 turns")
    for i in range(10):
        Message.objects.create(chat=page_chat, role="user", content=f"/image a lighthouse in a storm, take {i}")
        card = Message.objects.create(chat=page_chat, role="assistant", kind="image", metadata={"command": "image"})
        gen = Generation.objects.create(owner=user, chat=page_chat, message=card, provider="offline",
                                        prompt=f"a lighthouse in a storm, take {i}", status="succeeded", attempts=1)
        GeneratedImage.objects.create(generation=gen, owner=user, file=f"images/{user.pk}/img_{i:016x}.png",
                                      thumbnail=f"images/{user.pk}/thumbs/img_{i:016x}.webp", sha256=f"{i:064x}",
                                      width=1024, height=1024, mime_type="image/png", bytes=1_100_000)
        Message.objects.create(chat=page_chat, role="user", content=f"what can you do? ({i})")
        Message.objects.create(chat=page_chat, role="assistant", content=NO_CHAT_MODEL_REPLY)
    chats = {name: Chat.objects.create(owner=user, title=name) for name in ("P1 posts", "P2 runs", "P4 burst", "P6")}
    return user, page_chat, chats


def post_image(client: L.Client, chat, text: str) -> tuple[int, float]:
    from django.urls import reverse

    status, elapsed, body, _ = client.request(
        "POST", reverse("chat-message-create", args=[chat.pk]), form={"content": text}, headers={"HX-Request": "true"}
    )
    return status, elapsed


def wait_final(generation_ids: list[int], timeout_s: float) -> list:
    from images.models import Generation

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        gens = list(Generation.objects.filter(pk__in=generation_ids).order_by("pk"))
        if gens and all(not g.is_pending for g in gens):
            return gens
        time.sleep(0.02)
    raise RuntimeError(f"generations {generation_ids[:5]}… not final after {timeout_s:.0f} s")


def last_generation(chat):
    from images.models import Generation

    return Generation.objects.filter(chat=chat).order_by("-pk").first()


# ---------------------------------------------------------------------------------------------------- benchmarks

def bench_p1(client: L.Client, chat, n: int) -> dict:
    from django.urls import reverse

    insert, floor = reverse("bench-insert"), reverse("bench-post-floor", args=[chat.pk])
    ref, app, least, bad = [], [], [], []
    for i in range(n + 10):  # interleaved, so drift on a shared machine hits all alike; 10 warm-ups each
        s1, t1, _, _ = client.request("POST", insert, form={"content": f"row {i}"})
        s2, t2 = post_image(client, chat, f"/image bench p1 {i}")
        s3, t3, _, _ = client.request("POST", floor, form={"content": f"row {i}"})
        if (s1, s2, s3) != (200, 200, 200):
            bad.append((s1, s2, s3))
        elif i >= 10:
            ref.append(t1)
            app.append(t2)
            least.append(t3)
    if bad:
        raise RuntimeError(f"P1: unexpected statuses (insert, /image, floor): {bad[:5]}")
    return {"app": L.summary(app), "ref": L.summary(ref), "floor": L.summary(least)}


def discard_queued(chat) -> None:
    """P1 only enqueues: cancel those generations and drop their queued tasks before any worker starts."""
    from django.utils import timezone as tz
    from django_tasks_db.models import DBTaskResult

    from images.models import Generation

    Generation.objects.filter(chat=chat).pending().update(status="canceled", finished_at=tz.now())
    DBTaskResult.objects.all().delete()


def query_counts() -> dict:
    """Queries per request for a user with a large library and one with a small one (in-process test client
    against the same database)."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from images.models import GeneratedImage

    counts = {}
    for username in ("bench00", "bench-small"):
        user = get_user_model().objects.get(username=username)
        c = Client(SERVER_NAME="127.0.0.1")
        c.force_login(user)
        for label, path in (("api", reverse("api:image-list") + "?page_size=50"), ("gallery", reverse("gallery"))):
            c.get(path)  # warm: session, content types
            with CaptureQueriesContext(connection) as ctx:
                resp = c.get(path)
            if resp.status_code != 200:
                raise RuntimeError(f"P3: {path} answered {resp.status_code} for {username}")
            counts[f"{label}/{username}"] = len(ctx.captured_queries)
        counts[f"images/{username}"] = GeneratedImage.objects.filter(owner=user).count()
    return counts


def compare_load(client: L.Client, paths: dict[str, str], duration: int, rounds: int = 2) -> dict:
    """wrk on each path, `rounds` times in alternating order (ABBA…), `duration` seconds per path in all, so
    a neighbour's load on a shared machine falls on the figure and its reference alike."""
    runs: dict[str, list[dict]] = {name: [] for name in paths}
    for r in range(rounds):
        order = list(paths.items()) if r % 2 == 0 else list(reversed(paths.items()))
        for name, path in order:
            got = L.load(client, path, duration_s=max(1, duration // rounds))
            if got["non_2xx"]:
                raise RuntimeError(f"{path} answered {got['non_2xx']} non-2xx responses under load")
            runs[name].append(got)
    return {
        name: {"tool": got[0]["tool"], "rps": statistics.mean(g["rps"] for g in got),
               "requests": sum(g["requests"] for g in got),
               **{k: statistics.median(g[k] for g in got) for k in ("p50_ms", "p90_ms", "p99_ms")},
               "rounds": got}
        for name, got in runs.items()
    }


def bench_p3(port: int, duration: int) -> dict:
    from django.urls import reverse

    user = L.Client(port)
    user.login(reverse("login"), "bench00", PASSWORD)
    paths = {"api": reverse("api:image-list") + "?page_size=50", "gallery": reverse("gallery"),
             "ref": reverse("bench-rows")}
    for name, path in paths.items():
        status, _, body, _ = user.request("GET", path)
        if status != 200:
            raise RuntimeError(f"P3: {path} answered {status}")
    results = compare_load(user, paths, duration)
    results["queries"] = query_counts()
    return results


def bench_p5(client: L.Client, page_chat, duration: int) -> dict:
    from django.urls import reverse

    paths = {"app": reverse("chat-detail", args=[page_chat.pk]), "ref": reverse("bench-template")}
    for path in paths.values():
        status, *_ = client.request("GET", path)
        if status != 200:
            raise RuntimeError(f"P5: {path} answered {status}")
    return compare_load(client, paths, duration)


def bench_p2(client: L.Client, chat, stub_port: int, runs: int) -> dict:
    rows = []
    for i in range(runs + 1):  # the first warms the worker (imports, first connection); not counted
        prompt = f"bench p2 {i}"
        status, _ = post_image(client, chat, f"/image {prompt} --profile stub-fast")
        if status != 200:
            raise RuntimeError(f"P2: posting answered {status}")
        (gen,) = wait_final([last_generation(chat).pk], 60)
        if gen.status != "succeeded":
            raise RuntimeError(f"P2: generation {gen.pk} {gen.status}: {gen.error_code} {gen.error_message}")
        rows.append((prompt, gen))
    shas = {img.sha256 for _, gen in rows for img in gen.images.all()}
    if len(shas) != len(rows):  # the same bytes twice would skip the thumbnail and the write (content-addressed)
        raise RuntimeError(f"P2: the stub sent {len(rows)} images but only {len(shas)} distinct ones")
    # The stub records a request after it has sent the answer; a fast worker can be done before that, so wait (a
    # few seconds at most) until the stub has written down every prompt.
    deadline = time.monotonic() + 5
    while True:
        stats = json.loads(L.Client(stub_port).request("GET", "/stats")[2])
        stub_s = {r["prompt"]: r["seconds"] for r in stats["requests"]}
        if all(prompt in stub_s for prompt, _ in rows) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    measured = []
    for prompt, gen in rows[1:]:
        e2e = (gen.finished_at - gen.queued_at).total_seconds()
        run = (gen.finished_at - gen.started_at).total_seconds()
        measured.append({"e2e_s": e2e, "queue_s": e2e - run, "run_s": run, "stub_s": stub_s[prompt]})
    med = {k: statistics.median(m[k] for m in measured) for k in measured[0]}
    ref = pipeline.measure(variants(1024, 1)[0], runs=runs)  # the bytes the stub sends
    return {"runs": measured, "median": med, "overhead_s": statistics.median(m["e2e_s"] - m["stub_s"] for m in measured),
            "in_worker_overhead_s": statistics.median(m["run_s"] - m["stub_s"] for m in measured),
            "ref_s": ref["median_s"], "png_bytes": stats["png_bytes"].get("1024")}


def bench_p4(client: L.Client, chat, page_chat, jobs: int, workers: int, delay_s: float) -> dict:
    from django.urls import reverse

    from images.models import Generation

    page = reverse("chat-detail", args=[page_chat.pk])
    idle = L.Sampler(L.Client(client.port, dict(client.cookies)), page)
    idle.start()
    time.sleep(6)
    idle_stats = idle.stop()

    busy = L.Sampler(L.Client(client.port, dict(client.cookies)), page)
    busy.start()
    ids = []
    for i in range(jobs):
        status, _ = post_image(client, chat, f"/image bench p4 {i} --profile stub-2s")
        if status != 200:
            raise RuntimeError(f"P4: posting answered {status}")
        ids.append(last_generation(chat).pk)

    # What a browser showing this chat does meanwhile: htmx polls every pending card once a second.
    poller_stop = threading.Event()
    polls = {"n": 0, "non_200": 0}

    def poll_cards() -> None:
        poller = L.Client(client.port, dict(client.cookies))
        while not poller_stop.is_set():
            pending = list(Generation.objects.filter(pk__in=ids).pending().values_list("pk", flat=True))
            for pk in pending:
                status, *_ = poller.request("GET", reverse("generation-card", args=[pk]))
                polls["n"] += 1
                polls["non_200"] += status != 200
            poller_stop.wait(1.0)

    poller = threading.Thread(target=poll_cards, daemon=True)
    poller.start()
    ideal = math.ceil(jobs / workers) * delay_s
    try:
        gens = wait_final(ids, timeout_s=ideal * 4 + 60)
    finally:
        poller_stop.set()
        busy_stats = busy.stop()
        poller.join(timeout=30)
    failed = [g for g in gens if g.status != "succeeded"]
    if failed:
        raise RuntimeError(f"P4: {len(failed)} generations did not succeed, e.g. {failed[0].error_code}: "
                           f"{failed[0].error_message}")
    makespan = (max(g.finished_at for g in gens) - min(g.queued_at for g in gens)).total_seconds()
    return {"makespan_s": makespan, "ideal_s": ideal, "idle": idle_stats, "busy": busy_stats, "card_polls": polls}


def bench_p6(procs: Processes, client: L.Client, chat, worker_cmd: list[str]) -> dict:
    proc = procs.start("worker-p6", worker_cmd)
    time.sleep(4)  # start-up (imports, the worker's random start delay) and a few idle polls
    procs.check_alive()
    baseline = rss_kib(proc.pid, "VmRSS")
    status, _ = post_image(client, chat, "/image bench p6 --profile stub-4096")
    if status != 200:
        raise RuntimeError(f"P6: posting answered {status}")
    (gen,) = wait_final([last_generation(chat).pk], 180)
    peak = rss_kib(proc.pid, "VmHWM")
    procs.stop("worker-p6")
    if gen.status != "succeeded":
        raise RuntimeError(f"P6: generation {gen.status}: {gen.error_code} {gen.error_message}")
    bitmap = 4096 * 4096 * 3  # RGB, what Pillow holds for the decoded image
    return {"baseline_kib": baseline, "peak_kib": peak, "growth_bytes": (peak - baseline) * 1024,
            "bitmap_bytes": bitmap}


def write_thumbnails(username: str, count: int) -> int:
    """bench_seed writes rows only: give the newest `count` images of `username` real 512 px WEBP thumbnails, made
    by the product's make_thumbnail from a different picture each (a generated image's detail, not a flat colour
    that would compress to nothing). Returns the number written."""
    from django.contrib.auth import get_user_model
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from PIL import Image

    from bench.stub_openai import png_bytes
    from images.imaging import CleanImage, make_thumbnail
    from images.models import GeneratedImage

    user = get_user_model().objects.get(username=username)
    images = GeneratedImage.objects.filter(owner=user).order_by("-created", "-pk")[:count]
    for i, image in enumerate(images):
        x = -2.2 + (i % 8) * 0.05
        picture = Image.merge("RGB", [
            Image.effect_mandelbrot((1024, 1024), (x, -1.4 + i * 0.01, x + 3.0, 1.4 + i * 0.01), 60 + i),
            Image.linear_gradient("L").resize((1024, 1024)).rotate(i * 7),
            Image.effect_noise((1024, 1024), 20 + i % 10),
        ])
        clean = CleanImage(png_bytes(picture, 1), "image/png", "png", 1024, 1024, image.sha256)
        default_storage.delete(image.thumbnail)
        saved = default_storage.save(image.thumbnail, ContentFile(make_thumbnail(clean)))
        if saved != image.thumbnail:
            raise RuntimeError(f"P7: storage saved {image.thumbnail} as {saved}")
    return len(images)


def bench_p7(port: int, username: str) -> dict:
    """The first gallery page as a browser loads it, then a repeat visit: the page, every subresource its HTML
    references (thumbnails, CSS, JS, icon) and the fonts its CSS declares, summing the bytes of each answer's body
    as sent (compressed when the server compressed it; http.client does not decode). The repeat visit reuses what
    the first answers allow (bench/pageweight.py) and sends If-None-Match / If-Modified-Since for the rest."""
    from urllib.parse import urljoin, urlsplit

    from django.urls import reverse

    from bench import pageweight as W

    browser = L.Client(port)
    browser.login(reverse("login"), username, PASSWORD)
    accept = {"Accept-Encoding": "gzip, deflate, br, zstd"}  # what Chromium sends
    page = reverse("gallery")

    def get(path: str, extra: dict | None = None):
        status, _, body, resp = browser.request("GET", path, headers=accept | (extra or {}))
        return status, body, resp.headers

    status, html, doc_headers = get(page)
    if status != 200:
        raise RuntimeError(f"P7: {page} answered {status}")
    wanted = W.page_subresources(html.decode())
    first, skipped = [], []

    def fetch_first(kind: str, url: str, base: str) -> bytes:
        full = urljoin(base, url)
        parts = urlsplit(full)
        if parts.netloc and parts.netloc != f"127.0.0.1:{port}":
            skipped.append(full)  # e.g. an S3 presigned URL: not served by this bench
            return b""
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        status, body, headers = get(path)
        if status != 200:
            raise RuntimeError(f"P7: {path} answered {status}")
        first.append({"kind": kind, "path": path, "bytes": len(body), "encoding": headers.get("Content-Encoding", ""),
                      "cache_control": headers.get("Cache-Control", ""), "verdict": W.repeat_visit(headers),
                      "conditional": W.conditional_headers(headers)})
        return W.decoded(body, headers.get("Content-Encoding", ""))  # the CSS is parsed for its fonts

    for kind, url in wanted:
        body = fetch_first(kind, url, page)
        if kind == "css" and body:
            for font in W.css_fonts(body.decode("utf-8", "replace")):
                fetch_first("font", font, urljoin(page, url))
    images = [r for r in first if r["kind"] == "img"]
    if len(images) < 48:
        raise RuntimeError(f"P7: the first gallery page linked {len(images)} thumbnails; the seed has too few")

    # The repeat visit: the page itself again (navigations always ask), each subresource as its first answer allows.
    status, html2, _ = get(page)
    repeat = {"document": len(html2), "cached": 0, "revalidated_304": 0, "revalidated_200": 0, "fetched": 0,
              "subresource_bytes": 0}
    for r in first:
        if r["verdict"] == "cache":
            repeat["cached"] += 1
            continue
        status, body, _ = get(r["path"], r["conditional"] if r["verdict"] == "revalidate" else None)
        repeat["subresource_bytes"] += len(body)
        key = "fetched" if r["verdict"] == "fetch" else ("revalidated_304" if status == 304 else "revalidated_200")
        repeat[key] += 1
    by_kind: dict[str, dict] = {}
    for r in first:
        k = by_kind.setdefault(r["kind"], {"n": 0, "bytes": 0, "encodings": set(), "cache_control": set()})
        k["n"] += 1
        k["bytes"] += r["bytes"]
        k["encodings"].add(r["encoding"] or "identity")
        k["cache_control"].add(r["cache_control"] or "(none)")
    return {
        "document_bytes": len(html), "document_encoding": doc_headers.get("Content-Encoding", "") or "identity",
        "document_cache_control": doc_headers.get("Cache-Control", ""),
        "first_bytes": len(html) + sum(r["bytes"] for r in first),
        "repeat_bytes": len(html2) + repeat["subresource_bytes"], "repeat": repeat, "thumbnails": len(images),
        "by_kind": {k: {**v, "encodings": sorted(v["encodings"]), "cache_control": sorted(v["cache_control"])}
                    for k, v in by_kind.items()},
        "skipped_foreign": skipped, "resources": first,
    }


# ---------------------------------------------------------------------------------------------------- report

def machine() -> dict:
    import django
    import PIL
    import sqlite3

    model = ""
    try:
        model = next(l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                     if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split(" [")[0] \
        if L.have_wrk() else "absent (Python load generator used)"
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    # Other people's work on a shared machine shows here; a high figure means noisy absolute numbers.
    return {"cpu": model, "cores": os.cpu_count(), "memory_gib": round(mem_gib, 1), "python": platform.python_version(),
            "django": django.get_version(), "sqlite": sqlite3.sqlite_version, "pillow": PIL.__version__, "wrk": wrk,
            "load_average_at_end": round(os.getloadavg()[0], 1)}


def rows(r: dict, args) -> list[dict]:
    out = []

    def add(pid, figure, measured, reference, ratio, target, ok, note=""):
        out.append({"id": pid, "figure": figure, "measured": measured, "reference": reference,
                    "ratio": ratio, "target": target, "met": ok, "note": note})

    if "p1" in r:
        app, ref = r["p1"]["app"], r["p1"]["ref"]
        ratio = app["p50_ms"] / ref["p50_ms"]
        add("P1", "POST `/image …` (enqueue only), p50", f"{app['p50_ms']:.1f} ms", f"bare INSERT view {ref['p50_ms']:.1f} ms",
            ratio, "≤ 1.5×", ratio <= 1.5, f"p90 {app['p90_ms']:.1f} vs {ref['p90_ms']:.1f} ms; n={app['n']} each")
        if floor := r["p1"].get("floor"):  # not a target: what any chat post must do (bench/refapp/views.post_floor)
            add("P1", "floor of any chat post (session, user, chat; 4 plain rows in one transaction), p50",
                f"{floor['p50_ms']:.1f} ms", f"bare INSERT view {ref['p50_ms']:.1f} ms", floor["p50_ms"] / ref["p50_ms"],
                "—", None, f"the app's post is {app['p50_ms'] / floor['p50_ms']:.2f}× this floor")
    if "p2" in r:
        p = r["p2"]
        ratio = p["overhead_s"] / p["ref_s"]
        add("P2", "app overhead per 1024² PNG (end-to-end − stub)", f"{p['overhead_s'] * 1000:.0f} ms",
            f"raw pipeline {p['ref_s'] * 1000:.0f} ms", ratio, "≤ 1.5×", ratio <= 1.5,
            f"of which queue pickup {p['median']['queue_s'] * 1000:.0f} ms; in the worker "
            f"{p['in_worker_overhead_s'] * 1000:.0f} ms ({p['in_worker_overhead_s'] / p['ref_s']:.2f}×)")
    if "p3" in r:
        p, q = r["p3"], r["p3"]["queries"]
        same = q["api/bench00"] == q["api/bench-small"] and q["gallery/bench00"] == q["gallery/bench-small"]
        for name, label in (("api", "`GET /api/images/?page_size=50`"), ("gallery", "`GET /gallery/`")):
            ratio = p["ref"]["rps"] / p[name]["rps"]
            add("P3", f"{label}, {args.users * args.images:,} images ({args.users} users), time per request", f"{p[name]['rps']:.0f} req/s, p50 {p[name]['p50_ms']:.0f} ms",
                f"DRF list of 50 {p['ref']['rps']:.0f} req/s, p50 {p['ref']['p50_ms']:.0f} ms", ratio, "≤ 2×",
                ratio <= 2, f"queries {q[f'{name}/bench00']} at {q['images/bench00']:,} images, "
                f"{q[f'{name}/bench-small']} at {q['images/bench-small']}")
        add("P3", "query count independent of library size", "same" if same else "differs", "—", None,
            "same", same, json.dumps(q))
    if "p4" in r:
        p = r["p4"]
        ratio = p["makespan_s"] / p["ideal_s"]
        add("P4", f"{args.p4_jobs} generations × {args.p4_delay:g} s stub, {args.workers} workers", f"{p['makespan_s']:.1f} s",
            f"ideal ⌈{args.p4_jobs}/{args.workers}⌉ × {args.p4_delay:g} s = {p['ideal_s']:.0f} s", ratio, "≤ 1.2×", ratio <= 1.2)
        pr = p["busy"]["p99_ms"] / p["idle"]["p99_ms"]
        add("P4", "chat page p99 during the run", f"{p['busy']['p99_ms']:.0f} ms",
            f"idle p99 {p['idle']['p99_ms']:.0f} ms", pr, "≤ 3×", pr <= 3,
            f"p50 {p['busy']['p50_ms']:.0f} vs {p['idle']['p50_ms']:.0f} ms; {p['card_polls']['n']} htmx card polls alongside")
    if "p5" in r:
        p = r["p5"]
        ratio = p["app"]["rps"] / p["ref"]["rps"]
        add("P5", "chat page (20 turns) throughput", f"{p['app']['rps']:.0f} req/s",
            f"bare template {p['ref']['rps']:.0f} req/s", ratio, "≥ 0.5×", ratio >= 0.5,
            f"{p['app']['tool']}, 2 threads, 16 connections, {args.duration} s")
    if "p6" in r:
        p = r["p6"]
        ratio = p["growth_bytes"] / p["bitmap_bytes"]
        add("P6", "worker RSS growth ingesting a 4096² PNG", f"{p['growth_bytes'] / 2**20:.0f} MiB",
            f"decoded bitmap {p['bitmap_bytes'] / 2**20:.0f} MiB", ratio, "≤ 3×", ratio <= 3,
            f"peak RSS {p['peak_kib'] / 1024:.0f} MiB over an idle worker's {p['baseline_kib'] / 1024:.0f} MiB "
            f"({p['peak_kib'] * 1024 / p['bitmap_bytes']:.1f}× the bitmap in absolute terms)")
    if "p7" in r:
        p, rep = r["p7"], r["p7"]["repeat"]
        kinds = "; ".join(f"{k} {v['n']} × = {v['bytes'] / 1024:.0f} KiB ({'/'.join(v['encodings'])}; "
                          f"{' | '.join(v['cache_control'])})" for k, v in p["by_kind"].items())
        add("P7", f"first gallery page ({p['thumbnails']} thumbnails): bytes, first visit", f"{p['first_bytes'] / 1e6:.2f} MB",
            "—", None, "≤ 1.5 MB", p["first_bytes"] <= 1.5e6,
            f"page {p['document_bytes'] / 1024:.0f} KiB ({p['document_encoding']}; {p['document_cache_control'] or 'no Cache-Control'}); "
            f"{kinds}")
        from_cache = rep["fetched"] == 0 and rep["revalidated_200"] == 0
        add("P7", "repeat visit: bytes", f"{p['repeat_bytes'] / 1e6:.3f} MB", "—", None,
            "subresources from cache (304 or immutable)", from_cache,
            f"{rep['cached']} served from cache, {rep['revalidated_304']} revalidated (304), "
            f"{rep['revalidated_200']} revalidated but re-sent, {rep['fetched']} fetched again; the page itself "
            f"{rep['document'] / 1024:.0f} KiB")
    return out


def markdown(table: list[dict], info: dict, notes: list[str]) -> str:
    lines = [
        f"Run {info['date']} on {info['machine']['cores']} cores ({info['machine']['cpu'] or 'unknown CPU'}), "
        f"Python {info['machine']['python']}, Django {info['machine']['django']}, SQLite {info['machine']['sqlite']}, "
        f"load generator: {info['machine']['wrk']}; 1-minute load average {info['load_average_at_start']} at the "
        f"start, {info['machine']['load_average_at_end']} at the end. Command: `{info['command']}`",
        "",
        "| id | figure | measured | reference (same run) | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in table:
        ratio = "—" if row["ratio"] is None else f"{row['ratio']:.2f}×"
        lines.append(f"| {row['id']} | {row['figure']} | {row['measured']} | {row['reference']} | {ratio} | "
                     f"{row['target']} | {'—' if row['met'] is None else 'yes' if row['met'] else '**no**'} |")
    lines.append("")
    lines += [f"- {row['id']}: {row['note']}" for row in table if row["note"]]
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------- main

def main() -> int:
    parser = argparse.ArgumentParser(description="Run benchmarks P1–P7 against this machine's own limits.")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (P3, P5)")
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn processes (manage.py serve default)")
    parser.add_argument("--web-threads", type=int, default=None,
                        help="threads per gunicorn process (manage.py serve default)")
    parser.add_argument("--workers", type=int, default=2, help="task workers W (manage.py serve default)")
    parser.add_argument("--p1-requests", type=int, default=200)
    parser.add_argument("--p2-runs", type=int, default=5)
    parser.add_argument("--p4-jobs", type=int, default=32)
    parser.add_argument("--p4-delay", type=float, default=2.0, help="stub seconds per image in P4")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--images", type=int, default=10_000, help="images per user for P3")
    parser.add_argument("--only", default=",".join(ALL), help="comma-separated subset of " + ",".join(ALL))
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the bench itself works")
    parser.add_argument("--keep", action="store_true", help="keep the data folder and logs")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.p1_requests, args.p2_runs, args.p4_jobs, args.images = 2, 20, 2, 4, 500
    only = set(args.only.lower().split(","))
    if only - set(ALL):
        parser.error(f"--only: unknown {', '.join(sorted(only - set(ALL)))}; choose from {','.join(ALL)}")
    if args.p4_delay != 2.0:
        log("note: P4's target is defined for a 2 s stub")

    data_dir = Path(tempfile.mkdtemp(prefix="imagegen-bench-"))
    logs = data_dir / "logs"
    logs.mkdir()
    stub_port, web_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV} | {
        "IMAGEGEN_DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "IMAGEGEN_PRIVATE_ALLOWLIST": f"127.0.0.1:{stub_port}",  # the operator allowlist, as for A1111/ComfyUI
        "IMAGEGEN_GENERATE_RATE": "1000000/m",  # the limiter still runs on every post; it just never refuses
        "IMAGEGEN_MAX_ACTIVE_PER_USER": "1000000",  # likewise the cap on images in progress (P1 and P4 queue many)
        "LOG_LEVEL": "WARNING",
        "DEBUG": "false",
    }
    os.environ.clear()
    os.environ.update(env)
    procs = Processes(env, logs)
    results: dict = {}
    errors: dict[str, str] = {}
    notes: list[str] = []  # the servers' line goes first once Django is set up (serve's defaults need it)
    if not L.have_wrk():
        notes.append("wrk is not installed: P3/P5 used the Python load generator, which cannot saturate a fast "
                     "server (install wrk for real figures: apt-get install wrk)")
    if args.quick:
        notes.append("--quick: small sizes; a check of the bench, not a measurement")

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    started, load_at_start = time.monotonic(), round(os.getloadavg()[0], 1)
    try:
        log(f"data folder {data_dir}; stub on 127.0.0.1:{stub_port}; web on 127.0.0.1:{web_port}")
        procs.start("stub", [PY, "bench/stub_openai.py", "--port", str(stub_port), "--sizes", "1024,4096"])
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "createcachetable")
        manage(env, "collectstatic", "--noinput", "-v", "0")
        log(f"seeding {args.users} users × {args.images:,} images")
        manage(env, "bench_seed", "--users", str(args.users), "--images", str(args.images), "--password", PASSWORD)

        import django

        django.setup()
        driver, page_chat, chats = make_driver(stub_port)

        from imagegen_site.management.commands.serve import WEB_THREADS, web_command

        args.web_threads = args.web_threads or WEB_THREADS
        notes.insert(0, f"servers: gunicorn {args.web_workers} gthread workers × {args.web_threads} threads + "
                        f"{args.workers} task workers (the command lines of `manage.py serve`), SQLite in WAL mode, "
                        f"loopback OpenAI stub; the reference views use the same server, middleware and session cookie")
        # The same command line as `manage.py serve` (gthread workers).
        procs.start("web", web_command(PY, bind=f"127.0.0.1:{web_port}", web_workers=args.web_workers,
                                       threads=args.web_threads))
        from django.urls import reverse

        wait_http(web_port, reverse("login"), procs)
        wait_http(stub_port, "/health", procs, timeout_s=120)
        client = L.Client(web_port)
        client.login(reverse("login"), "bench-driver", PASSWORD)

        def attempt(pid: str, what: str, fn, *fn_args) -> None:
            """One benchmark; a failure (a broken page, a failed generation) is reported and the run goes on."""
            if pid not in only:
                return
            log(f"{pid.upper()}: {what}")
            try:
                results[pid] = fn(*fn_args)
            except Exception as e:  # noqa: BLE001 - reported in the table, with the logs kept
                log(f"{pid.upper()} failed: {e}")
                errors[pid] = f"{type(e).__name__}: {e}"

        attempt("p1", f"{args.p1_requests} × (bare INSERT, POST /image), no task workers running",
                bench_p1, client, chats["P1 posts"], args.p1_requests)
        discard_queued(chats["P1 posts"])
        attempt("p3", f"wrk {args.duration} s each on /api/images/, /gallery/, the bare DRF list",
                bench_p3, web_port, args.duration)
        attempt("p5", f"wrk {args.duration} s each on the chat page and the bare template",
                bench_p5, client, page_chat, args.duration)
        attempt("p7", "the first gallery page and a repeat visit, as a browser fetches them (bench-small)",
                lambda: write_thumbnails("bench-small", 60) and bench_p7(web_port, "bench-small"))

        from imagegen_site.management.commands.serve import worker_command

        worker_cmd = worker_command(PY)  # the same command line as `manage.py serve`
        if only & {"p2", "p4"}:
            for i in range(args.workers):
                procs.start(f"worker-{i + 1}", worker_cmd)
            time.sleep(3)
            procs.check_alive()
        attempt("p2", f"{args.p2_runs} generations one at a time through the stub (1024² PNG)",
                bench_p2, client, chats["P2 runs"], stub_port, args.p2_runs)
        attempt("p4", f"{args.p4_jobs} generations × {args.p4_delay:g} s on {args.workers} workers",
                bench_p4, client, chats["P4 burst"], page_chat, args.p4_jobs, args.workers, args.p4_delay)
        procs.stop(*[f"worker-{i + 1}" for i in range(args.workers)])
        attempt("p6", "one fresh worker ingests a 4096² PNG", bench_p6, procs, client, chats["P6"], worker_cmd)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        procs.stop()
        if args.keep or errors:
            log(f"kept {data_dir} (server logs in {logs})")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)

    info = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
            "command": "./run bench" + ("".join(f" {a}" for a in sys.argv[1:])),
            "wall_s": round(time.monotonic() - started, 1), "load_average_at_start": load_at_start}
    table = rows(results, args) + [
        {"id": pid.upper(), "figure": "did not complete", "measured": "—", "reference": "—", "ratio": None,
         "target": "—", "met": False, "note": error} for pid, error in errors.items()
    ]
    text = markdown(table, info, notes)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    # A subset (--only) or --quick is a check, not the table the README quotes: it goes to partial.{md,json}.
    stem = "latest" if only >= set(ALL) and not args.quick else "partial"
    (out / f"{stem}.json").write_text(json.dumps({**info, "table": table, "raw": results}, indent=2, default=str))
    (out / f"{stem}.md").write_text(text)
    print()
    print(text)
    log(f"done in {info['wall_s']:.0f} s; wrote bench/results/{stem}.md and {stem}.json")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
