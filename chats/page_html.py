"""The chat page's HTML, kept per process and keyed by everything it is drawn from (issue 10, P5).

Like chats/message_html.py, one level up: the key is every row the page shows (the chat; its messages with their
generations and images; the owner's image profiles, chat preferences and whether they have an API key), plus the
user's id, name and staff flag. A changed row is simply a new key: nothing to invalidate, so no write path
(a queryset.update() in the worker, the admin, a favorite) can leave a stale page behind, and a page is never
served to anyone else (the user's id is in the key and the chat row is read with the owner in the WHERE clause).

The rows are read with three plain SQL statements (dates and JSON as the database's text) and the tuple of them is
the dictionary key itself, compared in full on a hit: no digest to collide. On a hit the ORM's own work (building
the queries, converting and instantiating ~40 rows) had been most of the page's cost. A miss renders the page as
before and keeps it only if reading the rows again gives the same key, so a change that lands while the page is
being drawn is never stored under the older key.

Never kept: a page showing something that changes with the clock (an image queued or running, a reply streaming:
chats/message_html.py renders those fresh), and a request with flash messages (they show once). The two
per-request values, the CSRF token and the CSP nonce, are stored as placeholders and filled in on every answer.

Per process, bounded by size (MAX_CHARS for pages and their keys, least recently used first out; cleared when
settings change): imagegen_site/fragments.py.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Iterable

from django.contrib.messages import get_messages
from django.db import connection, models
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token

from imagegen_site.fragments import Fragments
from images.models import GeneratedImage, Generation
from profiles.models import ApiKey, ImageProfile

from .message_html import fingerprint
from .models import Chat, ChatPreferences, Message

ROWS_PER_CONNECTION = 32  # chat pages whose rows each database connection (one per thread) remembers
MAX_CHARS = 32 * 2**20  # ~250 pages of a 20-turn chat per process, each with a key about its size
# Per process and unguessable, so text someone typed into a chat can never be mistaken for a placeholder.
CSRF_MARK = f"\x00csrf-{secrets.token_hex(16)}\x00"
NONCE_MARK = f"\x00nonce-{secrets.token_hex(16)}\x00"

State = tuple  # (user id, user name, staff flag, chat row, content rows, profile rows)

_pages = Fragments(max_weight=MAX_CHARS)
_sql: dict[str, tuple[str, str, str]] = {}


def _columns(model, alias: str) -> str:
    """Every concrete column; dates and JSON as text, so rows come back as plain hashable values on every database
    (and SQLite skips parsing each date in Python)."""
    quote = connection.ops.quote_name
    columns = []
    for field in model._meta.concrete_fields:
        column = f"{alias}.{quote(field.column)}"
        if isinstance(field, (models.DateField, models.TimeField, models.JSONField)):  # DateTimeField included
            column = f"CAST({column} AS TEXT)"
        columns.append(column)
    return ", ".join(columns)


def _statements() -> tuple[str, str, str]:
    """The three statements, built once per database vendor from the models (every concrete column, so a column
    added later is in the key without anyone remembering to add it)."""
    vendor = connection.vendor
    if vendor not in _sql:
        quote = connection.ops.quote_name

        def t(model) -> str:
            return quote(model._meta.db_table)

        def c(model, name: str) -> str:
            return quote(model._meta.get_field(name).column)

        chat = (f"SELECT {_columns(Chat, 'c')}, {_columns(ChatPreferences, 'p')}, "
                f"EXISTS(SELECT 1 FROM {t(ApiKey)} k WHERE k.{c(ApiKey, 'owner')} = c.{c(Chat, 'owner')}) "
                f"FROM {t(Chat)} c LEFT JOIN {t(ChatPreferences)} p "
                f"ON p.{c(ChatPreferences, 'owner')} = c.{c(Chat, 'owner')} "
                f"WHERE c.{c(Chat, 'id')} = %s AND c.{c(Chat, 'owner')} = %s")
        content = (f"SELECT {_columns(Message, 'm')}, {_columns(Generation, 'g')}, {_columns(GeneratedImage, 'i')} "
                   f"FROM {t(Message)} m "
                   f"LEFT JOIN {t(Generation)} g ON g.{c(Generation, 'message')} = m.{c(Message, 'id')} "
                   f"LEFT JOIN {t(GeneratedImage)} i ON i.{c(GeneratedImage, 'generation')} = g.{c(Generation, 'id')} "
                   f"WHERE m.{c(Message, 'chat')} = %s "
                   f"ORDER BY m.{c(Message, 'created')}, m.{c(Message, 'id')}, i.{c(GeneratedImage, 'id')}")
        profiles = (f"SELECT {_columns(ImageProfile, 'p')} FROM {t(ImageProfile)} p "
                    f"WHERE p.{c(ImageProfile, 'owner')} = %s ORDER BY p.{c(ImageProfile, 'id')}")
        _sql[vendor] = (chat, content, profiles)
    return _sql[vendor]


def _read_rows(user_id: int, chat_id: int) -> tuple | None:
    chat_sql, content_sql, profiles_sql = _statements()
    with connection.cursor() as cursor:
        cursor.execute(chat_sql, [chat_id, user_id])
        chat = cursor.fetchone()
        if chat is None:
            return None
        cursor.execute(content_sql, [chat_id])
        content = tuple(map(tuple, cursor.fetchall()))
        cursor.execute(profiles_sql, [user_id])
        profiles = tuple(map(tuple, cursor.fetchall()))
    return tuple(chat), content, profiles


def _sqlite_stamp() -> tuple | None:
    """On SQLite outside any transaction: (the connection, a stamp that changes whenever this connection could see
    different data). PRAGMA data_version changes when another connection (thread, process) commits; this
    connection's own writes move its total_changes. Inside a transaction (tests, atomic blocks) there is none: a
    rollback takes writes back without moving either counter."""
    if connection.vendor != "sqlite" or not connection.get_autocommit() or connection.in_atomic_block:
        return None
    connection.ensure_connection()
    raw = connection.connection
    return raw, (raw.execute("PRAGMA data_version").fetchone()[0], raw.total_changes)


def page_state(user, chat_id: int) -> State | None:
    """This user's chat page as the rows stand now (the cache key); None when the user has no such chat.

    On SQLite the rows last read by this connection are reused while its stamp stays the same: nothing was committed
    anywhere since, so the same statements would return the same rows (one PRAGMA instead of three reads). The
    stamp is taken before the rows are read, so a commit landing meanwhile moves it and they are read again."""
    stamped = _sqlite_stamp()
    if stamped is None:
        rows = _read_rows(user.pk, chat_id)
    else:
        raw, stamp = stamped
        held = getattr(connection, "_chat_page_rows", None)
        if held is None or held[0] is not raw:  # a new connection: its counters start again
            held = (raw, OrderedDict())
            connection._chat_page_rows = held
        memo = held[1]
        entry = memo.get((user.pk, chat_id))
        if entry is not None and entry[0] == stamp:
            rows = entry[1]
        else:
            rows = _read_rows(user.pk, chat_id)
            memo[(user.pk, chat_id)] = (stamp, rows)
            memo.move_to_end((user.pk, chat_id))
            while len(memo) > ROWS_PER_CONNECTION:
                memo.popitem(last=False)
    if rows is None:
        return None
    return (user.pk, user.get_username(), user.is_staff, *rows)


def has_flash(request: HttpRequest) -> bool:
    return len(get_messages(request)) > 0  # loads them without marking them seen (the page shows them)


def cached_response(request: HttpRequest, key: State) -> HttpResponse | None:
    html = _pages.get(key)
    if html is None:
        return None
    return HttpResponse(html.replace(CSRF_MARK, get_token(request)).replace(NONCE_MARK, str(request.csp_nonce)))


def cacheable(messages: Iterable[Message]) -> bool:
    """False when a message on the page is drawn fresh every time (a card in progress, a reply streaming)."""
    return all(fingerprint(message) is not None for message in messages)


def keep(key: State, html: str, *, csrf_token: str, nonce: str) -> None:
    """Keep a page rendered with these token values; they become placeholders."""
    html = html.replace(csrf_token, CSRF_MARK).replace(nonce, NONCE_MARK)
    _pages.put(key, html, weight=2 * len(html))  # the key holds the page's rows: about as much again


def clear() -> None:
    _pages.clear()
