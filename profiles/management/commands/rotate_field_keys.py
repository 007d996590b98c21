"""Re-encrypt every stored API key with the current (first) FIELD_ENCRYPTION_KEYS key.

Rotation: put the new key first (FIELD_ENCRYPTION_KEYS="<new>,<old>"), run this, then drop the old key.
"""

from cryptography.fernet import InvalidToken
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from profiles.crypto import rotate_secret
from profiles.models import ApiKey


class Command(BaseCommand):
    help = "Re-encrypt all stored API keys with the first key of FIELD_ENCRYPTION_KEYS."

    def handle(self, *args, **options) -> None:
        rotated, failed = 0, []
        with transaction.atomic():
            for key in ApiKey.objects.select_for_update().only("pk", "secret_encrypted").iterator(chunk_size=500):
                try:
                    key.secret_encrypted = rotate_secret(key.secret_encrypted)
                except InvalidToken:
                    failed.append(key.pk)
                    continue
                key.save(update_fields=["secret_encrypted"])
                rotated += 1
            if failed:
                # All or nothing: a key no configured key can read means the old key is still needed.
                transaction.set_rollback(True)
                raise CommandError(
                    f"{len(failed)} key(s) cannot be decrypted with any configured key (ids {failed[:20]}); "
                    "nothing was changed. Add the key they were encrypted with and run this again."
                )
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {rotated} API key(s) with the current key."))
