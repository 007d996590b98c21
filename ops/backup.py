"""One-archive backups: the database and every stored file, with a manifest of sha256 sums.

Archive layout (a tar file; gzip when the name ends in .gz/.tgz):
  database/db.sqlite3   a consistent copy made with SQLite's online backup API (the embedded default), or
  database/data.xml     `dumpdata --format xml` with natural foreign keys and the same primary keys (PostgreSQL and
                        other engines, or --db-format dump). XML, not JSON: Django's JSON encoder cuts datetimes to
                        milliseconds, which changes every timestamp and the order of rows made in the same millisecond.
  files/<storage name>  every file in the default storage, read through Django's storage API (disk or S3)
  manifest.json         format version, counts, database and per-file sha256, encryption-key fingerprints

Images are content-addressed and never rewritten, so copying the database first and the files second gives a
consistent pair: a file written in between is only an unreferenced extra.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sqlite3
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import django
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection

from . import files

FORMAT = "imagegen-backup"
FORMAT_VERSION = 1
SKIPPED_PREFIXES = ("healthcheck/",)  # readiness probe scratch files
# Rebuilt by `migrate` on the target; dumping them would clash with the rows it creates.
DUMP_EXCLUDES = ["contenttypes", "auth.permission", "sessions"]


class BackupError(Exception):
    pass


def key_fingerprints() -> list[str]:
    """Short hashes of FIELD_ENCRYPTION_KEYS: enough to tell whether two instances share keys, useless to decrypt."""
    return [hashlib.sha256(key.encode()).hexdigest()[:12] for key in settings.FIELD_ENCRYPTION_KEYS]


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(files.CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(data), int(time.time())
    archive.addfile(info, io.BytesIO(data))


def _counts() -> dict[str, int]:
    from chats.models import Chat
    from images.models import GeneratedImage, Generation
    from profiles.models import ApiKey

    return {
        "users": get_user_model().objects.count(),
        "chats": Chat.objects.count(),
        "generations": Generation.objects.count(),
        "images": GeneratedImage.objects.count(),
        "api_keys": ApiKey.objects.count(),
    }


def _is_sqlite() -> bool:
    return connection.vendor == "sqlite"


def _write_database(archive: tarfile.TarFile, db_format: str, workdir: Path) -> dict:
    if db_format == "sqlite":
        copy = workdir / "db.sqlite3"
        connection.ensure_connection()
        target = sqlite3.connect(copy)
        try:
            # The online backup API copies a consistent snapshot while the web and workers keep writing.
            connection.connection.backup(target)
        finally:
            target.close()
        member = "database/db.sqlite3"
    else:
        copy = workdir / "data.xml"
        call_command(
            "dumpdata", format="xml", natural_foreign=True, exclude=DUMP_EXCLUDES, output=str(copy), verbosity=0,
        )
        member = "database/data.xml"
    archive.add(copy, arcname=member)
    return {"format": db_format, "member": member, "sha256": _sha256_file(copy), "bytes": copy.stat().st_size}


def create_backup(path: Path, *, db_format: str = "auto", log=print) -> dict:
    if db_format == "auto":
        db_format = "sqlite" if _is_sqlite() else "dump"
    if db_format == "sqlite" and not _is_sqlite():
        raise BackupError("--db-format sqlite needs a SQLite database; use dump for this engine.")
    mode = "w:gz" if path.name.endswith((".gz", ".tgz")) else "w"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    stored: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="imagegen-backup-") as tmp, tarfile.open(partial, mode) as archive:
        database = _write_database(archive, db_format, Path(tmp))
        counts = _counts()
        log(f"database: {database['format']}, {database['bytes']:,} bytes")
        for name in files.walk(""):
            if name.startswith(SKIPPED_PREFIXES):
                continue
            # Spool each file once: hash it and learn its size (tar needs it first) in the same read.
            digest, size = hashlib.sha256(), 0
            with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as spool:
                with default_storage.open(name, "rb") as source:
                    while chunk := source.read(files.CHUNK):
                        digest.update(chunk)
                        spool.write(chunk)
                        size += len(chunk)
                spool.seek(0)
                info = tarfile.TarInfo(f"files/{name}")
                info.size, info.mtime = size, int(time.time())
                archive.addfile(info, spool)
            stored.append({"name": name, "sha256": digest.hexdigest(), "bytes": size})
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "created_at": datetime.now(UTC).isoformat(),
            "django": django.get_version(),
            "engine": connection.vendor,
            "database": database,
            "counts": counts,
            "files": stored,
            "encryption_key_fingerprints": key_fingerprints(),
        }
        _add_bytes(archive, "manifest.json", json.dumps(manifest, indent=2).encode())
    partial.replace(path)  # a crash mid-way never leaves a truncated archive under the real name
    log(f"files: {len(stored)}, {sum(f['bytes'] for f in stored):,} bytes")
    return manifest


@dataclass
class RestoreReport:
    counts: dict[str, int]
    files_restored: int = 0
    files_unchanged: int = 0
    missing_files: list[str] = field(default_factory=list)
    keys_total: int = 0
    keys_readable: int = 0
    same_encryption_keys: bool = True


def read_manifest(archive: tarfile.TarFile) -> dict:
    try:
        manifest = json.load(archive.extractfile("manifest.json"))
    except KeyError:
        raise BackupError("This archive has no manifest.json; it is not an imagegen backup.") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
        raise BackupError(f"Unsupported backup format {manifest.get('format')!r} version {manifest.get('version')!r}.")
    return manifest


# A stored name as the app writes them: relative, plain ASCII path segments, no "." or ".." segment.
_SAFE_NAME = re.compile(r"^(?!/)(?:[A-Za-z0-9_-][A-Za-z0-9._-]*/)*[A-Za-z0-9_-][A-Za-z0-9._-]*$", re.ASCII)


def check_file_names(manifest: dict) -> None:
    """Refuse an archive naming a file outside the media folder's own layout, before anything is replaced: the
    manifest comes from a file someone handed the operator, and storage backends differ in what they refuse."""
    for entry in manifest.get("files", []):
        name = entry.get("name", "")
        if not isinstance(name, str) or len(name) > 255 or not _SAFE_NAME.match(name) or "/../" in f"/{name}/":
            raise BackupError(f"The archive names a file {name!r} that is not a stored file name; nothing was restored.")


def _extract_verified(archive: tarfile.TarFile, member: str, expected_sha256: str, target) -> None:
    source = archive.extractfile(member)
    if source is None:
        raise BackupError(f"{member} is missing from the archive.")
    digest = hashlib.sha256()
    while chunk := source.read(files.CHUNK):
        digest.update(chunk)
        target.write(chunk)
    if digest.hexdigest() != expected_sha256:
        raise BackupError(f"{member} does not match its sha256 in the manifest: the archive is damaged.")


def _instance_is_empty() -> bool:
    from django.db.utils import DatabaseError

    try:
        return not get_user_model().objects.exists()
    except DatabaseError:  # not migrated yet: certainly empty
        return True


def restore_backup(path: Path, *, force: bool = False, log=print) -> RestoreReport:
    if not path.exists():
        raise BackupError(f"{path} does not exist.")
    if not force and not _instance_is_empty():
        raise BackupError(
            "This instance already has users. Restore into an empty instance (a new DATABASE_URL / data folder), "
            "or pass --force to replace its database."
        )
    with tarfile.open(path, "r:*") as archive, tempfile.TemporaryDirectory(prefix="imagegen-restore-") as tmp:
        manifest = read_manifest(archive)
        check_file_names(manifest)
        database = manifest["database"]
        dump = Path(tmp) / Path(database["member"]).name
        with dump.open("wb") as target:
            _extract_verified(archive, database["member"], database["sha256"], target)

        if database["format"] == "sqlite":
            if not _is_sqlite():
                raise BackupError(
                    "This archive holds a SQLite database and this instance uses another engine. Restore it into "
                    "a SQLite instance, then run `backup --db-format dump` there and restore that archive here."
                )
            source = sqlite3.connect(dump)
            try:
                connection.ensure_connection()
                source.backup(connection.connection)  # replaces every page of the live database
            finally:
                source.close()
            connection.close()
            call_command("migrate", interactive=False, verbosity=0)  # an older backup meets newer code
        else:
            call_command("migrate", interactive=False, verbosity=0)
            if force:
                call_command("flush", interactive=False, verbosity=0)
            call_command("loaddata", str(dump), verbosity=0)
        call_command("createcachetable", verbosity=0)
        log(f"database restored from {database['format']}")

        report = RestoreReport(counts=_counts())
        for entry in manifest["files"]:
            name = entry["name"]
            if default_storage.exists(name):
                current, _ = files.sha256_of(name)
                if current == entry["sha256"]:
                    report.files_unchanged += 1
                    continue
                default_storage.delete(name)
            with tempfile.TemporaryFile() as spool:
                _extract_verified(archive, f"files/{name}", entry["sha256"], spool)
                spool.seek(0)
                saved = default_storage.save(name, File(spool, name=name))
            if saved != name:
                raise BackupError(f"storage saved {name} as {saved}; restore needs the exact names.")
            report.files_restored += 1

    from images.models import GeneratedImage

    for file, thumb in GeneratedImage.objects.values_list("file", "thumbnail"):
        for name in (file, thumb):
            if name and not default_storage.exists(name):
                report.missing_files.append(name)
    report.same_encryption_keys = manifest["encryption_key_fingerprints"][0] in key_fingerprints()
    report.keys_total, report.keys_readable = _readable_keys()
    return report


def _readable_keys() -> tuple[int, int]:
    from profiles.models import ApiKey

    total = readable = 0
    for key in ApiKey.objects.all():
        total += 1
        try:
            key.get_secret()
            readable += 1
        except Exception:  # wrong FIELD_ENCRYPTION_KEYS: the row stays; its owner re-enters the key
            pass
    return total, readable
