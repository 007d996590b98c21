"""System checks for the key-encryption keys (SECURITY.md T13). Errors stop `manage.py serve`, `migrate` and
`check --deploy`.

Always refused: no key, a key Fernet cannot use, the documentation's example key. The embedded default's generated
key file (var/field_encryption_key, random, mode 0600) is accepted while the app runs as the embedded default
(SQLite, no DATABASE_URL) or with DEBUG on; a production start (DEBUG off and DATABASE_URL set) must pass
FIELD_ENCRYPTION_KEYS in the environment, so the key is not stored next to the data it protects.
"""

from cryptography.fernet import Fernet
from django.conf import settings
from django.core import checks

from .crypto import EXAMPLE_FIELD_ENCRYPTION_KEY

HINT = 'Generate one with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'


@checks.register(checks.Tags.security)
def check_field_encryption_keys(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    keys = getattr(settings, "FIELD_ENCRYPTION_KEYS", None) or []
    if isinstance(keys, str):
        keys = [keys]
    if not [k for k in keys if str(k).strip()]:
        return [checks.Error("FIELD_ENCRYPTION_KEYS is empty: users' API keys cannot be encrypted.", hint=HINT,
                             id="profiles.E001")]
    errors: list[checks.CheckMessage] = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(str(key).strip().encode())
        except (ValueError, TypeError):
            # The key itself is never echoed: a check message can end up in a log.
            errors.append(checks.Error(f"FIELD_ENCRYPTION_KEYS entry {position} is not a Fernet key "
                                       "(32 url-safe base64-encoded bytes).", hint=HINT, id="profiles.E002"))
            continue
        if str(key).strip() == EXAMPLE_FIELD_ENCRYPTION_KEY:
            errors.append(checks.Error(f"FIELD_ENCRYPTION_KEYS entry {position} is the documented example key.",
                                       hint=HINT, id="profiles.E003"))
    production = not settings.DEBUG and bool(getattr(settings, "DATABASE_URL", ""))
    if production and getattr(settings, "FIELD_ENCRYPTION_KEYS_FROM_FILE", False):
        errors.append(checks.Error(
            "FIELD_ENCRYPTION_KEYS is not set: a production deployment (DEBUG off, DATABASE_URL set) must not use "
            "the key file the embedded default generates next to its data.", hint=HINT, id="profiles.E004"))
    return errors
