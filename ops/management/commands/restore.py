"""`manage.py restore PATH`: bring back an archive made by `manage.py backup` into an empty instance."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ops.backup import BackupError, restore_backup


class Command(BaseCommand):
    help = "Restore a backup archive (database and files, each checked against its sha256) into an empty instance."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--force", action="store_true", help="replace the database even though this instance already has users"
        )

    def handle(self, *args, path: Path, force: bool, **options) -> None:
        try:
            report = restore_backup(path, force=force, log=self.stdout.write)
        except BackupError as e:
            raise CommandError(str(e)) from e
        counts = ", ".join(f"{n} {k}" for k, n in report.counts.items())
        self.stdout.write(self.style.SUCCESS(
            f"Restored {counts}; {report.files_restored} files written, {report.files_unchanged} already present."
        ))
        if report.missing_files:
            self.stderr.write(self.style.WARNING(
                f"{len(report.missing_files)} image files referenced by the database are not in storage, e.g. "
                f"{report.missing_files[0]}."
            ))
        if report.keys_total:
            if report.keys_readable == report.keys_total:
                self.stdout.write(f"All {report.keys_total} API keys decrypt with this instance's FIELD_ENCRYPTION_KEYS.")
            else:
                self.stderr.write(self.style.WARNING(
                    f"Only {report.keys_readable} of {report.keys_total} API keys decrypt: encrypted API keys survive "
                    "only with the same FIELD_ENCRYPTION_KEYS as the instance that made the backup. Set those keys "
                    "and restart, or ask the users to enter their keys again."
                ))
        elif not report.same_encryption_keys:
            self.stdout.write("Note: this instance's FIELD_ENCRYPTION_KEYS differ from the backed-up instance's.")
        self.stdout.write("Restart the web server and the workers now.")
