"""`manage.py backup PATH`: the database and every stored file in one archive (see ops/backup.py)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ops.backup import BackupError, create_backup


class Command(BaseCommand):
    help = "Write one archive with the database and every stored file, with sha256 sums in a manifest."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, help="archive to write (.tar, or .tar.gz to compress)")
        parser.add_argument(
            "--db-format", choices=["auto", "sqlite", "dump"], default="auto",
            help="auto: a SQLite copy via the backup API on SQLite, dumpdata (XML) elsewhere",
        )

    def handle(self, *args, path: Path, db_format: str, **options) -> None:
        try:
            manifest = create_backup(path, db_format=db_format, log=self.stdout.write)
        except BackupError as e:
            raise CommandError(str(e)) from e
        counts = ", ".join(f"{n} {k}" for k, n in manifest["counts"].items())
        self.stdout.write(self.style.SUCCESS(f"Backup written to {path} ({counts})."))
        self.stdout.write(
            "API keys in it are encrypted with FIELD_ENCRYPTION_KEYS, which are NOT in the archive. Keep those keys "
            f"with the backup (fingerprint {manifest['encryption_key_fingerprints'][0]}): without them the users' "
            "API keys cannot be decrypted after a restore (everything else can)."
        )
