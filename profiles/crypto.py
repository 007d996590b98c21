"""Encryption of users' provider keys at rest (MultiFernet; keys separate from SECRET_KEY).

The ciphertext binds the owner: the token's payload carries the owner's id, so a ciphertext copied into another
user's row does not decrypt to a usable key there.
"""

import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from imagegen_site.logredact import remember_secret


# The key shown in the documentation. A deployment that copied it is refused by a system check (profiles/checks.py).
EXAMPLE_FIELD_ENCRYPTION_KEY = "eF6Nmvj0pWp9QxjLs6rX0QmO3zUeYbB7cA5dT1gH2iM="


class KeyDecryptError(Exception):
    pass


def _fernet() -> MultiFernet:
    # The first key encrypts; every key decrypts (rotation: prepend the new key, re-encrypt, drop the old).
    return MultiFernet([Fernet(key.encode()) for key in settings.FIELD_ENCRYPTION_KEYS])


def encrypt_secret(secret: str, *, owner_id: int) -> str:
    remember_secret(secret)
    payload = json.dumps({"uid": owner_id, "k": secret}).encode()
    return _fernet().encrypt(payload).decode()


def decrypt_secret(token: str, *, owner_id: int) -> str:
    try:
        payload = json.loads(_fernet().decrypt(token.encode()))
    except (InvalidToken, ValueError):
        raise KeyDecryptError("The stored key cannot be decrypted with the configured encryption keys.") from None
    if payload.get("uid") != owner_id:
        raise KeyDecryptError("The stored key does not belong to this account.")
    # From here on the log redaction masks this exact value, whatever its shape.
    remember_secret(payload["k"])
    return payload["k"]


def rotate_secret(token: str) -> str:
    return _fernet().rotate(token.encode()).decode()
