"""gunicorn's access log as JSON lines when LOG_FORMAT=json, in the same shape as the app's own lines (ops/logs.py).

gunicorn writes its access log itself, outside Django's logging, so LOGGING's JSON formatter never sees it; `serve`
passes this class as `--logger-class` under LOG_FORMAT=json. The path is logged without its query string (signed
links and API filters can carry tokens or user text) and with the request id the app put on the response.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from gunicorn.glogging import Logger


def access_entry(*, method: str, path: str, query: str, status: str, length, request_id: str, remote: str,
                 request_time) -> dict:
    return {
        "time": datetime.fromtimestamp(time.time(), UTC).isoformat(timespec="milliseconds"),
        "level": "INFO",
        "logger": "gunicorn.access",
        "message": f"{method} {path} {status.split()[0] if status else '-'}",
        "request_id": request_id or "-",
        "method": method,
        "path": path,
        "query_chars": len(query),
        "status": int(status.split()[0]) if status and status.split()[0].isdigit() else None,
        "bytes": length,
        "duration_ms": round(request_time.total_seconds() * 1000, 1),
        "remote_addr": remote,
    }


class JsonAccessLogger(Logger):
    def access(self, resp, req, environ, request_time) -> None:
        if not self.access_log_enabled:
            return
        headers = dict((name.lower(), value) for name, value in (resp.headers or []))
        entry = access_entry(
            method=environ.get("REQUEST_METHOD", "-"), path=environ.get("PATH_INFO", "-"),
            query=environ.get("QUERY_STRING", ""), status=resp.status or "", length=getattr(resp, "sent", None),
            request_id=headers.get("x-request-id", ""), remote=environ.get("REMOTE_ADDR", "-"),
            request_time=request_time,
        )
        self.access_log.info(json.dumps(entry, ensure_ascii=False))
