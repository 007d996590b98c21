"""Rendered HTML kept per process: a bounded, thread-safe least-recently-used map from a key to a string.

The pages' caches of drawn HTML use it (chats/message_html.py, chats/page_html.py, the gallery's tiles in
images/templatetags/gallery_extras.py). Each keys its entries by everything the HTML is drawn from, so an entry is
never stale and never invalidated: a changed row is a new key, and old keys age out. Per process, not in the shared
cache: a hit costs no query, and each gunicorn process draws a fragment at most once. Every instance is emptied when
settings change (tests that change storage or providers must not see HTML drawn under the old ones).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Hashable

from django.core.signals import setting_changed

_instances: weakref.WeakSet[Fragments] = weakref.WeakSet()


class Fragments:
    """At most `max_weight` in all; an entry weighs its length in characters unless put() says otherwise."""

    def __init__(self, max_weight: int) -> None:
        self.max_weight = max_weight
        self._entries: OrderedDict[Hashable, tuple[str, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()
        _instances.add(self)

    def get(self, key: Hashable) -> str | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: Hashable, html: str, *, weight: int | None = None) -> None:
        weight = len(html) if weight is None else weight
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._weight -= old[1]
            self._entries[key] = (html, weight)
            self._weight += weight
            while self._weight > self.max_weight and self._entries:
                self._weight -= self._entries.popitem(last=False)[1][1]

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._weight = 0


def _on_setting_changed(**kwargs) -> None:
    for fragments in list(_instances):
        fragments.clear()


setting_changed.connect(_on_setting_changed, dispatch_uid="imagegen-fragments-clear")
