"""A database cache whose increment is atomic across processes, for rate-limit counters.

Django's DatabaseCache.incr is get-then-set, so two processes can both read 3 and both write 4. Here the pair runs
in one transaction that first takes a lock: with SQLite's IMMEDIATE transaction mode (settings.SQLITE_OPTIONS)
BEGIN takes the database write lock; on PostgreSQL a transaction-scoped advisory lock on the key. Only the
embedded default uses it (Redis replaces it when REDIS_URL is set).

django-ratelimit makes two calls per counted request, add() then incr(). Django's versions cost a COUNT(*) of the
table (culling) each, add() on an existing key is an INSERT that fails and rolls back, and incr() nests a savepoint:
14 statements and two write transactions per post (bench P1). Here add() is one upsert and incr() one locked
read-modify-write; expired rows are deleted when a new counter starts instead of culled on every write.
"""

from __future__ import annotations

import base64
import pickle
from datetime import datetime, timezone

from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.db import DatabaseCache
from django.db import connections, models, router, transaction
from django.utils.timezone import now as tz_now

FAST_VENDORS = ("sqlite", "postgresql")  # both have INSERT … ON CONFLICT … DO UPDATE … WHERE


class AtomicDatabaseCache(DatabaseCache):
    def _encode(self, value) -> str:
        return base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")

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
        with transaction.atomic(using=db), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [key])
            cursor.execute(f"SELECT {q('value')}, {q('expires')} FROM {table} WHERE {q('cache_key')} = %s", [key])
            row = cursor.fetchone()
            if row is None or self._converted_expiry(connection, row[1]) < tz_now():
                raise ValueError(f"Key '{key}' not found")
            value = pickle.loads(base64.b64decode(connection.ops.process_clob(row[0]).encode())) + delta
            # The expiry stays: the counter's window does not grow with each hit (as Redis INCR keeps the TTL).
            cursor.execute(f"UPDATE {table} SET {q('value')} = %s WHERE {q('cache_key')} = %s",
                           [self._encode(value), key])
        return value

    @staticmethod
    def _converted_expiry(connection, raw) -> datetime:
        expression = models.Expression(output_field=models.DateTimeField())
        for converter in connection.ops.get_db_converters(expression) + expression.get_db_converters(connection):
            raw = converter(raw, expression, connection)
        return raw
