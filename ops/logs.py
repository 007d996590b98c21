"""Structured logs: a request id from the web request into the task, and JSON lines.

`LOG_FORMAT=json` switches the console handler to one JSON object per line (see settings.LOGGING). Every record
carries `request_id`: set by RequestIdMiddleware for a web request, and by the task for the work it enqueued.
Secrets are masked by imagegen_site.logredact, which runs before any formatter.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse

generation_logger = logging.getLogger("imagegen.generation")

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

# A request id we accept from a proxy (X-Request-ID): short and harmless in a log line.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def current_request_id() -> str:
    return _request_id.get()


@contextmanager
def request_id_context(request_id: str) -> Iterator[str]:
    """Run a block (a task) under a request id; a missing one gets a fresh id so its lines still group."""
    token = _request_id.set(request_id if request_id and _SAFE_ID.match(request_id) else uuid.uuid4().hex)
    try:
        yield _request_id.get()
    finally:
        _request_id.reset(token)


class RequestIdMiddleware:
    """Take the proxy's X-Request-ID (if it looks like an id) or make one; echo it in the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        token = _request_id.set(request_id)
        request.request_id = request_id
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response["X-Request-ID"] = request_id
        return response


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get() or "-"
        return True


_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "request_id"}


class PlainFormatter(logging.Formatter):
    """The human format; tolerates records that did not pass RequestIdFilter (another handler's)."""

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get() or "-"
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, plus any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        entry |= {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and not k.startswith("_")}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


def log_generation_outcome(generation_id: int) -> None:
    """The one INFO line per finished generation. Never the prompt's text (user data) and never a key."""
    from images.models import Generation

    g = (
        Generation.objects.filter(pk=generation_id)
        .values("owner_id", "provider", "model", "status", "error_code", "attempts", "estimated_cost_usd",
                "started_at", "finished_at", "queued_at", "prompt")
        .first()
    )
    if g is None:
        return
    duration = (g["finished_at"] - g["started_at"]).total_seconds() if g["started_at"] and g["finished_at"] else None
    fields = {
        "event": "generation_finished",
        "generation_id": generation_id,
        "user_id": g["owner_id"],
        "provider": g["provider"],
        "model": g["model"],
        "status": g["status"],
        "error_code": g["error_code"],
        "duration_s": round(duration, 3) if duration is not None else None,
        "attempts": g["attempts"],
        "cost_usd": float(g["estimated_cost_usd"]) if g["estimated_cost_usd"] is not None else None,
        "prompt_chars": len(g["prompt"]),
    }
    summary = " ".join(f"{k}={v}" for k, v in fields.items() if k != "event" and v not in (None, ""))
    generation_logger.info("generation finished %s", summary, extra=fields)
