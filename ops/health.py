"""GET /healthz (the process answers) and GET /readyz (it can do its job), for load balancers and monitors.

Unauthenticated, so they say nothing private: no host names, paths, versions, user data or error texts; just
which check failed and counts.
"""

from __future__ import annotations

import logging
import uuid

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import heartbeat, stats

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def check_database() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone() == (1,)


def check_storage() -> bool:
    """Write, read back and delete a small file through the storage API (local disk or S3)."""
    name = f"healthcheck/{uuid.uuid4().hex}.txt"
    payload = b"ok"
    saved = default_storage.save(name, ContentFile(payload))
    try:
        with default_storage.open(saved, "rb") as handle:
            return handle.read() == payload
    finally:
        default_storage.delete(saved)


def _run(name: str, check) -> bool:
    try:
        return bool(check())
    except Exception:
        # The details go to the log (operators), never into the unauthenticated answer.
        logger.exception("readiness check %s failed", name)
        return False


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, dict] = {}
    db_ok = _run("database", check_database)
    checks["database"] = {"ok": db_ok}
    storage_ok = _run("storage", check_storage)
    checks["storage"] = {"ok": storage_ok}
    if stats.uses_db_workers():
        workers = 0
        if db_ok:
            try:
                workers = heartbeat.live_workers().count()
            except Exception:
                logger.exception("readiness check workers failed")
        checks["workers"] = {"ok": workers > 0, "seen_last_minute": workers}
    else:
        # Another backend (RQ, immediate) runs or needs no db_worker; nothing of ours to see.
        checks["workers"] = {"ok": True, "seen_last_minute": None}
    queue = None
    if db_ok:
        try:
            queue = stats.queue_depth()
        except Exception:
            logger.exception("readiness check queue failed")
    ready = all(check["ok"] for check in checks.values())
    body = {"status": "ready" if ready else "unavailable", "checks": checks, "queue": queue}
    return JsonResponse(body, status=200 if ready else 503)
