"""Secrets never reach a log line (SECURITY.md T14).

Two layers, because a record can be written by any library: a log-record factory masks every record when it is
created (so every handler, including pytest's caplog and error mails, sees the masked text), and a handler
filter does the same for records made before the factory was installed. Masked: provider key shapes, bearer /
token / basic credentials, `key=…`-style pairs, and the exact values of keys this process has decrypted.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict

MASK = "[redacted]"

# (pattern, replacement): the replacement keeps the label so a log still says what was there.
PATTERNS: list[tuple[re.Pattern, str]] = [
    # Header values first: "Authorization: Bearer …", "Token …", "Basic …".
    (re.compile(r"(?i)\b(bearer|token|basic)(\s+)[A-Za-z0-9._~+/=\-]{8,}"), rf"\1\2{MASK}"),
    # key=value and "key": "value" pairs whose name says secret.
    (
        re.compile(
            r"""(?ix)
            ((?:x-api-key|x-goog-api-key|api[_-]?key|apikey|authorization|access[_-]?token|secret|password|key)
             ["']?\s*[:=]\s*["']?)
            (?!\[redacted\]|(?:bearer|token|basic)\s)[^\s"',&}\]]{4,}
            """
        ),
        rf"\1{MASK}",
    ),
    # Provider key shapes: OpenAI/OpenRouter/Anthropic (sk-…), xAI, Google, our own API tokens (igt_…).
    (re.compile(r"\b(?:sk|xai|igt)[-_][A-Za-z0-9_\-]{8,}"), MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"), MASK),
]

# Exact secrets seen by this process (decrypted keys): masked even when they have no recognisable shape.
_known: OrderedDict[str, None] = OrderedDict()
_known_lock = threading.Lock()
_KNOWN_MAX = 2000


def remember_secret(secret: str) -> None:
    if not secret or len(secret) < 6:
        return
    with _known_lock:
        _known[secret] = None
        _known.move_to_end(secret)
        while len(_known) > _KNOWN_MAX:
            _known.popitem(last=False)


def redact(text: str) -> str:
    if not text:
        return text
    with _known_lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        text = text.replace(secret, MASK)
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    if getattr(record, "_redacted", False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: keep what there is
        message = str(record.msg)
    record.msg, record.args = redact(message), ()
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._redacted = True
    return record


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_installed = False


def install_record_factory() -> None:
    """Mask every record at creation; idempotent."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        return redact_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    _installed = True
