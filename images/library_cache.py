"""Per-owner cache of what is costly to compute over a whole image library: the gallery's facet counts and total.

It lives in one database row per owner (images.models.LibraryState): a random `version` and the counts computed at
that version, keyed by a digest of the filter values. Any change to the owner's images, tags or chats replaces the
version and empties the counts *in the same transaction as the change* (`library_changed`), so a reader sees either
the old data with the old counts or the new data with none. A reader that computed counts stores them with a
compare-and-set on the version it read: if the library changed meanwhile, the write matches nothing and nothing
stale is kept. Two statements on a hit (this row, then the page), one write on a miss.

What replaces the version: the model signals wired in images/signals.py (an image saved or deleted, tags set, a tag
renamed or deleted, a chat deleted), plus explicit calls where rows change without signals (gallery_bulk's
queryset.update, gallery.images_add_tag's and the worker's bulk_create).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from typing import Any

from .models import LibraryState

MAX_ENTRIES = 8  # filter sets remembered per owner; the oldest goes first


def _new_version() -> int:
    return secrets.randbits(62)


def library_changed(owner_id: int | None) -> None:
    """The owner's images, tags or chats changed: counts computed before must not be served again."""
    if owner_id is None:
        return
    # An upsert, so a reader that found no row and computes meanwhile cannot insert its (older) counts after this.
    LibraryState.objects.bulk_create(
        [LibraryState(owner_id=owner_id, version=_new_version(), facets={})],
        update_conflicts=True, unique_fields=["owner"], update_fields=["version", "facets"],
    )


def _digest(kind: str, values: dict) -> str:
    return hashlib.sha256(json.dumps([kind, values], sort_keys=True, default=str).encode()).hexdigest()[:24]


def cached(kind: str, owner_id: int, values: dict, compute: Callable[[], Any]) -> tuple[Any, bool]:
    """(what `compute` returns, whether it came from the cache). `compute` must return JSON-serialisable data."""
    digest = _digest(kind, values)
    state = LibraryState.objects.filter(owner_id=owner_id).values_list("version", "facets").first()
    if state is not None and digest in state[1]:
        return state[1][digest], True
    data = compute()
    if state is None:
        # ignore_conflicts: if a change created the row meanwhile, its (empty) counts stand.
        LibraryState.objects.bulk_create([LibraryState(owner_id=owner_id, version=_new_version(), facets={digest: data})],
                                         ignore_conflicts=True)
    else:
        version, entries = state
        kept = dict(list(entries.items())[-(MAX_ENTRIES - 1):])
        kept[digest] = data
        LibraryState.objects.filter(owner_id=owner_id, version=version).update(facets=kept)
    return data, False
