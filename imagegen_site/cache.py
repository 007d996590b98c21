"""A database cache whose increment is atomic across processes, for rate-limit counters.

Django's DatabaseCache.incr is get-then-set, so two processes can both read 3 and both write 4. Here the pair runs
in one transaction that first takes a lock: with SQLite's IMMEDIATE transaction mode (settings.SQLITE_OPTIONS)
BEGIN takes the database write lock; on PostgreSQL a transaction-scoped advisory lock on the key. Only the
embedded default uses it (Redis replaces it when REDIS_URL is set).

django-ratelimit makes two calls per counted request, add() then incr(). Django's versions cost a COUNT(*) of the
table (culling) each, add() on an existing key is an INSERT that fails and rolls back, and incr() nests a savepoint:
14 statements and two write transactions per post (bench P1). Here add() is one upsert and incr() one UPDATE; hit()
(imagegen_site/ratelimits.py) is add-then-incr in one upsert, the whole counter in one statement. Expired rows are
deleted when a new counter starts instead of culled on every write. Counters (ints) are stored as plain digits, not
pickled, so the database can add to them; anything else is pickled as in Django's DatabaseCache.
"""

from __future__ import annotations

import base64
import pickle
import re
from datetime import datetime, timezone

from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.db import DatabaseCache
from django.db import connections, models, router, transaction
from django.utils.timezone import now as tz_now

FAST_VENDORS = ("sqlite", "postgresql")  # both have INSERT … ON CONFLICT … DO UPDATE … WHERE, and RETURNING
COUNTER = re.compile(r"[0-9]+")  # a stored counter; a pickle's base64 starts with "g" (protocol 2+), never a digit


class AtomicDatabaseCache(DatabaseCache):
    def _encode(self, value) -> str:
        if type(value) is int and value >= 0:  # a counter: digits the database can add to (not bool, not negative)
            return str(value)
        return base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")

    @staticmethod
    def _decode(connection, raw):
        raw = connection.ops.process_clob(raw)
        if COUNTER.fullmatch(raw):
            return int(raw)
        return pickle.loads(base64.b64decode(raw.encode()))

    @staticmethod
    def _is_counter(connection, column: str) -> str:
        """SQL that is true when the column holds a counter (digits only), so CAST cannot fail on a pickle."""
        if connection.vendor == "postgresql":
            return f"{column} ~ '^[0-9]+$'"
        return f"({column} <> '' AND {column} NOT GLOB '*[^0-9]*')"

    def get_many(self, keys, version=None):
        """Django's get_many, reading counters stored as digits too."""
        if not keys:
            return {}
        key_map = {self.make_and_validate_key(key, version=version): key for key in keys}
        connection = connections[router.db_for_read(self.cache_model_class)]
        q = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {q('cache_key')}, {q('value')}, {q('expires')} FROM {q(self._table)} "
                f"WHERE {q('cache_key')} IN ({', '.join(['%s'] * len(key_map))})",
                list(key_map),
            )
            rows = cursor.fetchall()
        result, expired_keys = {}, []
        for key, value, expires in rows:
            if self._converted_expiry(connection, expires) < tz_now():
                expired_keys.append(key)
            else:
                result[key_map.get(key)] = self._decode(connection, value)
        self._base_delete_many(expired_keys)
        return result

    def _expiry(self, timeout) -> datetime:
        backend_timeout = self.get_backend_timeout(timeout)
        if backend_timeout is None:
            return datetime.max
        return datetime.fromtimestamp(backend_timeout, tz=timezone.utc if settings.USE_TZ else None).replace(
            microsecond=0
        )

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None) -> bool:
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        if connection.vendor not in FAST_VENDORS:
            return super().add(key, value, timeout, version)
        key = self.make_and_validate_key(key, version=version)
        q = connection.ops.quote_name
        table = q(self._table)
        now = connection.ops.adapt_datetimefield_value(tz_now().replace(microsecond=0))
        expires = connection.ops.adapt_datetimefield_value(self._expiry(timeout))
        with connection.cursor() as cursor:
            # A live row wins (nothing changes, rowcount 0); an expired one is replaced as if it were absent.
            cursor.execute(
                f"INSERT INTO {table} ({q('cache_key')}, {q('value')}, {q('expires')}) VALUES (%s, %s, %s) "
                f"ON CONFLICT ({q('cache_key')}) DO UPDATE SET {q('value')} = excluded.{q('value')}, "
                f"{q('expires')} = excluded.{q('expires')} WHERE {table}.{q('expires')} < %s",
                [key, self._encode(value), expires, now],
            )
            added = cursor.rowcount == 1
            if added:  # a new counter (a new window): the right moment to drop the ones that ran out
                cursor.execute(f"DELETE FROM {table} WHERE {q('expires')} < %s", [now])
        return added

    def incr(self, key, delta: int = 1, version=None) -> int:
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        key = self.make_and_validate_key(key, version=version)
        q = connection.ops.quote_name
        table = q(self._table)
        if connection.vendor in FAST_VENDORS and delta >= 0:
            # One statement: the database adds to a live counter (the expiry stays: the window does not grow with
            # each hit, as Redis INCR keeps the TTL). Nothing matched: missing, expired, or not a counter.
            now = connection.ops.adapt_datetimefield_value(tz_now())
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} SET {q('value')} = CAST(CAST({q('value')} AS BIGINT) + %s AS TEXT) "
                    f"WHERE {q('cache_key')} = %s AND {q('expires')} >= %s "
                    f"AND {self._is_counter(connection, q('value'))} "
                    f"RETURNING {q('value')}",
                    [delta, key, now],
                )
                row = cursor.fetchone()
            if row is not None:
                return int(connection.ops.process_clob(row[0]))
        with transaction.atomic(using=db), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [key])
            cursor.execute(f"SELECT {q('value')}, {q('expires')} FROM {table} WHERE {q('cache_key')} = %s", [key])
            row = cursor.fetchone()
            if row is None or self._converted_expiry(connection, row[1]) < tz_now():
                raise ValueError(f"Key '{key}' not found")
            value = self._decode(connection, row[0]) + delta
            cursor.execute(f"UPDATE {table} SET {q('value')} = %s WHERE {q('cache_key')} = %s",
                           [self._encode(value), key])
        return value

    def hit(self, key, timeout, delta: int = 1, version=None) -> int | None:
        """add(key, delta) or else incr(key, delta), in one statement: the counter's value after this hit. None on a
        database without upsert … RETURNING; the caller then makes the two calls."""
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        if connection.vendor not in FAST_VENDORS or delta < 1:
            return None
        key = self.make_and_validate_key(key, version=version)
        q = connection.ops.quote_name
        table, value, expires = q(self._table), q("value"), q("expires")
        now = connection.ops.adapt_datetimefield_value(tz_now())
        old_live = f"{table}.{expires} >= %s"
        with connection.cursor() as cursor:
            # A live counter gains delta and keeps its expiry; an expired row starts again as if absent. A live row
            # that is not a counter (a pickle) is left alone and comes back as it is: the two-call path handles it.
            cursor.execute(
                f"INSERT INTO {table} ({q('cache_key')}, {value}, {expires}) VALUES (%s, %s, %s) "
                f"ON CONFLICT ({q('cache_key')}) DO UPDATE SET "
                f"{value} = CASE WHEN NOT ({old_live}) THEN excluded.{value} "
                f"WHEN {self._is_counter(connection, f'{table}.{value}')} "
                f"THEN CAST(CAST({table}.{value} AS BIGINT) + %s AS TEXT) ELSE {table}.{value} END, "
                f"{expires} = CASE WHEN {old_live} THEN {table}.{expires} ELSE excluded.{expires} END "
                f"RETURNING {value}",
                [key, str(delta), connection.ops.adapt_datetimefield_value(self._expiry(timeout)), now, delta, now],
            )
            raw = connection.ops.process_clob(cursor.fetchone()[0])
            if not COUNTER.fullmatch(raw):
                return None
            count = int(raw)
            if count == delta:  # a new counter (a new window): the right moment to drop the ones that ran out
                cursor.execute(f"DELETE FROM {table} WHERE {expires} < %s", [now])
        return count

    @staticmethod
    def _converted_expiry(connection, raw) -> datetime:
        expression = models.Expression(output_field=models.DateTimeField())
        for converter in connection.ops.get_db_converters(expression) + expression.get_db_converters(connection):
            raw = converter(raw, expression, connection)
        return raw
