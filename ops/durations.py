"""`90d`, `12h`, `30m`, `2w`, `45s`: the spans operator commands take."""

import re
from datetime import timedelta

_SPAN = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_span(text: str) -> timedelta:
    match = _SPAN.match(text or "")
    if not match:
        raise ValueError(f"{text!r} is not a time span; write a number and a unit, like 45s, 30m, 1h, 90d or 2w.")
    return timedelta(**{_UNITS[match.group(2).lower()]: int(match.group(1))})
