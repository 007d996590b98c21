"""Prometheus metrics at /metrics, for staff sessions or `Authorization: Bearer $METRICS_TOKEN`.

Two sources:
- Business numbers (generations by provider/status, duration histogram, queue depth, retries, provider errors,
  live workers) are read from the database at scrape time, so every web process gives the same answer and they
  survive restarts.
- HTTP requests are counted in-process by RequestMetricsMiddleware. With several gunicorn processes set
  PROMETHEUS_MULTIPROC_DIR (`manage.py serve` does) so the scrape adds up all of them.
"""

from __future__ import annotations

import hmac
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.utils import floatToGoString

from . import heartbeat, stats

HTTP_REQUESTS = Counter(
    "imagegen_http_requests", "HTTP requests answered, by route name, method and status.", ["view", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "imagegen_http_request_duration_seconds", "Time to answer an HTTP request.", ["method"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class DatabaseCollector:
    """Reads the generation table at scrape time (a handful of grouped queries)."""

    def describe(self):
        # Without this, registering would call collect(), i.e. query the database at import time.
        return []

    def collect(self):
        generations = GaugeMetricFamily(
            "imagegen_generations", "Generations in the database, by provider and status.", labels=["provider", "status"]
        )
        for row in stats.generations_by_provider_status():
            generations.add_metric([row["provider"], row["status"]], row["n"])
        yield generations

        durations = HistogramMetricFamily(
            "imagegen_generation_duration_seconds", "Run time of finished generations (start of the last attempt to "
            "finish).", labels=["provider"],
        )
        for provider, hist in stats.duration_histogram().items():
            buckets = [(floatToGoString(bound), count) for bound, count in hist["buckets"]] + [("+Inf", hist["count"])]
            durations.add_metric([provider], buckets, hist["sum_s"])
        yield durations

        queue = GaugeMetricFamily("imagegen_queue_depth", "Work waiting or running.", labels=["state"])
        for state, n in stats.queue_depth().items():
            queue.add_metric([state], n)
        yield queue

        retries = CounterMetricFamily(
            "imagegen_generation_retries", "Attempts beyond the first, by provider.", labels=["provider"]
        )
        for row in stats.retries_by_provider():
            retries.add_metric([row["provider"]], row["n"] or 0)
        yield retries

        errors = CounterMetricFamily(
            "imagegen_provider_errors",
            "Generations whose last attempt ended in an error, by provider and error code (DESIGN.md taxonomy).",
            labels=["provider", "code"],
        )
        for row in stats.provider_errors():
            errors.add_metric([row["provider"], row["error_code"]], row["n"])
        yield errors

        yield from prompt_cache_metrics()

        if stats.uses_db_workers():
            yield GaugeMetricFamily(
                "imagegen_workers_alive", "Task workers with a heartbeat in the last minute.",
                value=heartbeat.live_workers().count(),
            )


def prompt_cache_metrics():
    """The prompt cache (chats/prompt_cache.py): hit rate = hits / (hits + llm_calls)."""
    from chats.prompt_cache import totals  # chats depends on ops' neighbours, not the other way round

    found = totals()
    yield CounterMetricFamily("imagegen_prompt_cache_hits", "Prompt refinements answered from the cache.",
                              value=found.hits)
    yield CounterMetricFamily("imagegen_prompt_cache_llm_calls",
                              "Prompt refinements the chat model was paid for (cache misses that were stored).",
                              value=found.llm_calls)
    yield GaugeMetricFamily("imagegen_prompt_cache_entries", "Cached prompt refinements.", value=found.entries)
    yield GaugeMetricFamily("imagegen_prompt_cache_hit_ratio",
                            "hits / (hits + llm_calls) over the cached rows; 0 before the first refinement.",
                            value=found.hit_rate or 0.0)


_database_collector = DatabaseCollector()
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    REGISTRY.register(_database_collector)


def registry() -> CollectorRegistry:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)
        combined.register(_database_collector)
        return combined
    return REGISTRY


def prepare_multiprocess_dir(path: Path) -> dict[str, str]:
    """A fresh folder for per-process metric files; the environment for the processes that will share it."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    return {"PROMETHEUS_MULTIPROC_DIR": str(path)}


def is_operator(request: HttpRequest) -> bool:
    token = getattr(settings, "METRICS_TOKEN", "")
    if token:
        supplied = request.headers.get("Authorization", "")
        if hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode()):
            return True
    user = getattr(request, "user", None)
    return bool(user and user.is_authenticated and user.is_staff)


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not is_operator(request):
        response = HttpResponse("Operators only: sign in as staff or send Authorization: Bearer <METRICS_TOKEN>.\n",
                                status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        # The route's name, never the raw path: bounded label values, and no ids or user data in metrics.
        view = (match.view_name if match else "") or "unmatched"
        method = request.method if request.method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD") else "other"
        HTTP_REQUESTS.labels(view, method, str(response.status_code)).inc()
        HTTP_LATENCY.labels(method).observe(time.perf_counter() - started)
        return response
