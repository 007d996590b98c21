"""Seed a throw-away bench database: an image library of N users × M images, a small library, and the
reference table. executemany in one transaction per user, so 100,000 images take seconds, not minutes.

    DJANGO_SETTINGS_MODULE=bench.settings IMAGEGEN_DATA_DIR=/tmp/x manage.py bench_seed --users 10 --images 10000

Refuses to run on a database that already has users other than bench ones: it is for bench data folders only.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import connections, transaction
from django.db.models import Max
from django.utils import timezone

from bench.refapp.models import BenchRow
from chats.models import Chat
from images.models import GeneratedImage, Generation, search_text

def insert_rows(model, rows: list[dict]) -> None:
    """INSERT plain rows with executemany: the ORM's per-object cost would dominate 200,000 rows. Every concrete
    column is written; those a row leaves out get the field's default (or now() for auto_now[_add]), prepared by
    the field itself, so a field added to the model later still gets a valid value or a clear error."""
    if not rows:
        return
    db = connections["default"]  # the wrapper itself: the `connection` proxy costs a lookup per value
    fields = model._meta.concrete_fields
    now = timezone.now()
    template = {}
    for f in fields:
        if f.attname in rows[0]:
            continue
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            value = now
        elif f.has_default() or f.null or f.empty_strings_allowed:
            value = f.get_default()  # the default, else None for a nullable field, else "" for a text one
        else:
            raise CommandError(f"bench_seed does not know a value for {model.__name__}.{f.name}; add it to the seed")
        template[f.attname] = f.get_db_prep_save(value, db)
    varying = [f for f in fields if f.attname in rows[0]]
    columns = ", ".join(db.ops.quote_name(f.column) for f in fields)
    sql = (f"INSERT INTO {db.ops.quote_name(model._meta.db_table)} ({columns}) "
           f"VALUES ({', '.join(['%s'] * len(fields))})")
    params = []
    for row in rows:
        prepared = dict(template)
        for f in varying:
            prepared[f.attname] = f.get_db_prep_save(row[f.attname], db)
        params.append([prepared[f.attname] for f in fields])
    with db.cursor() as cursor:
        cursor.executemany(sql, params)


def next_id(model) -> int:
    return (model.objects.aggregate(m=Max("pk"))["m"] or 0) + 1


def seed_library(owner, count: int) -> None:
    """`count` succeeded generations with one 1024² PNG each, as the worker would have written them, newest
    last (a microsecond apart, so the gallery's order is the real one)."""
    chat = Chat.objects.create(owner=owner, title="Bench library")
    first_gen, first_img = next_id(Generation), next_id(GeneratedImage)
    start = timezone.now() - timedelta(seconds=count)
    generations, images = [], []
    for i in range(count):
        gen_id, when = first_gen + i, start + timedelta(milliseconds=i)
        generations.append({
            "id": gen_id, "owner_id": owner.pk, "chat_id": chat.pk, "provider": "offline",
            "model": "offline-sketch", "prompt": f"bench image {i}", "refined_prompt": f"bench image {i}",
            "status": Generation.Status.SUCCEEDED, "attempts": 1, "parameters": {"n": 1}, "queued_at": when,
            "started_at": when, "finished_at": when,
        })
        images.append({
            "id": first_img + i, "generation_id": gen_id, "owner_id": owner.pk, "index": 0,
            "file": f"images/{owner.pk}/img_{gen_id:016x}.png", "thumbnail": f"images/{owner.pk}/thumbs/img_{gen_id:016x}.webp",
            "sha256": f"{gen_id:064x}", "width": 1024, "height": 1024, "mime_type": "image/png", "bytes": 1_100_000,
            "seed": gen_id, "created": when,
            "search_text": search_text(f"bench image {i}", f"bench image {i}", ""),
        })
    insert_rows(Generation, generations)
    insert_rows(GeneratedImage, images)


class Command(BaseCommand):
    help = "Seed bench users with an image library and the reference table (bench data folders only)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--users", type=int, default=10)
        parser.add_argument("--images", type=int, default=10_000, help="images per user")
        parser.add_argument("--small-images", type=int, default=60, help="images of the user 'bench-small'")
        parser.add_argument("--rows", type=int, default=100_000, help="rows in the reference table")
        parser.add_argument("--password", default="bench-pass-123")

    def handle(self, *args, users: int, images: int, small_images: int, rows: int, password: str, **options) -> None:
        User = get_user_model()
        if User.objects.exclude(username__startswith="bench").exists():
            raise CommandError("This database has real users; bench_seed only runs on a bench data folder.")
        started, cpu = time.perf_counter(), time.process_time()
        hashed = make_password(password)  # hash once: PBKDF2 per user would cost more than the rows
        for i in range(users):
            with transaction.atomic():
                owner = User.objects.create(username=f"bench{i:02d}", password=hashed)
                seed_library(owner, images)
        with transaction.atomic():
            seed_library(User.objects.create(username="bench-small", password=hashed), small_images)
            first = next_id(BenchRow)
            insert_rows(BenchRow, [{"id": first + i, "name": f"row {i}", "value": i} for i in range(rows)])
        self.stdout.write(
            f"seeded {users} users × {images:,} images, bench-small × {small_images}, {rows:,} reference rows "
            f"in {time.perf_counter() - started:.1f} s ({time.process_time() - cpu:.1f} s of CPU)"
        )
