"""Issue 11 on the scale path: backup on PostgreSQL → a brand-new PostgreSQL database and empty storage → restore →
the same rows, decrypted keys and files (sha256), and the restored instance takes new rows (its sequences moved on).

Runs in ./run test's PostgreSQL + Redis pass (imagegen_site/test_settings_scale.py); skips, saying so, elsewhere.
The restore and both snapshots run as separate `manage.py`/python processes, as an operator would run them.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from tests.ops.test_backup import instance  # noqa: F401 - the fixture: two users, chats, images, a key, a profile

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip(f"needs PostgreSQL; this run is on {connection.vendor} (./run test runs this in its PostgreSQL "
                    "+ Redis pass when 127.0.0.1:5432 answers)")


def database_url(name: str) -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"


@pytest.fixture
def fresh_database():
    """A new, empty PostgreSQL database beside the test database; dropped at the end."""
    import psycopg

    name = f"{connection.settings_dict['NAME']}_restored"
    admin = psycopg.connect(database_url("postgres"), autocommit=True)
    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def run(args: list[str], *, database: str, media: Path, tmp_path: Path) -> str:
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "TASKS_BACKEND", "PROMETHEUS_MULTIPROC_DIR")},
        "DJANGO_SETTINGS_MODULE": "imagegen_site.settings",
        "DATABASE_URL": database_url(database),
        "MEDIA_ROOT": str(media),
        "IMAGEGEN_DATA_DIR": str(tmp_path / f"data-{database}"),
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),  # the same keys: API keys decrypt
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_scale_backup_on_postgresql_restores_into_a_fresh_database(
    postgresql, instance, media_root, fresh_database, tmp_path  # noqa: F811
):
    original = connection.settings_dict["NAME"]
    media = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    before = json.loads(run(["-m", "tests.ops.backup_procs", "snapshot"], database=original, media=media,
                            tmp_path=tmp_path))
    assert len(before["files"]) == 6 and len(before["users"]) == 2 and before["keys"][0][3] == "sk-test-alice-0123456789"

    archive = tmp_path / "imagegen.tar.gz"
    call_command("backup", str(archive), verbosity=0)  # on PostgreSQL: dumpdata (XML), same primary keys

    restored_media = tmp_path / "restored-media"
    out = run(["manage.py", "restore", str(archive)], database=fresh_database, media=restored_media, tmp_path=tmp_path)
    assert "database restored from dump" in out, out
    after = json.loads(run(["-m", "tests.ops.backup_procs", "snapshot"], database=fresh_database,
                           media=restored_media, tmp_path=tmp_path))
    assert after == before  # every row (microsecond timestamps included), decrypted key and file sha256

    # The sequences moved past the restored ids: the next rows get new ids instead of a duplicate-key error.
    written = json.loads(run(["-m", "tests.ops.backup_procs", "write-check"], database=fresh_database,
                             media=restored_media, tmp_path=tmp_path))
    assert written["chat"] > max(c["id"] for c in before["chats"])
    assert written["message"] > max(m["id"] for m in before["messages"])
