"""Encryption at rest for customer secrets (kubeconfigs), with key rotation.

Keys come from NODELESS_ENCRYPTION_KEYS (comma-separated Fernet keys). MultiFernet encrypts with the
first key and decrypts with any, so rotation is: prepend a new key, run
`manage.py rotate_encryption_keys` (re-encrypts every stored secret with the new key), then remove
the old key from the setting.
"""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DecryptionFailed(Exception):
    """A stored secret cannot be decrypted with any configured key."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as error:
        raise ImproperlyConfigured(f"NODELESS_ENCRYPTION_KEYS holds a key that is not a Fernet key: {error}")


def _current() -> MultiFernet:
    return _fernet(tuple(settings.NODELESS_ENCRYPTION_KEYS))


def encrypt_text(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt_text(ciphertext: str) -> str:
    try:
        return _current().decrypt(ciphertext.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise DecryptionFailed(
            "a stored secret cannot be decrypted with NODELESS_ENCRYPTION_KEYS; was a key removed too early?"
        )


def rotate_text(ciphertext: str) -> str:
    """Re-encrypt with the first (newest) key."""
    try:
        return _current().rotate(ciphertext.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise DecryptionFailed("a stored secret cannot be decrypted with any configured key")
