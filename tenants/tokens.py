"""API token format: `nls_` + 43 base62 characters of randomness + a 6-character base62 CRC32.

The prefix makes a leaked token recognizable by secret scanners, and the checksum lets a scanner (or
our own authentication) reject a random string offline without a database lookup, as GitHub's token
format does. Only the SHA-256 of a token is stored: tokens carry 256 bits of entropy, so a fast
unsalted hash is safe and keeps every authenticated request to one indexed lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import zlib

PREFIX = "nls_"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_RANDOM_BYTES = 32
_BODY_LENGTH = 43  # ceil(256 / log2(62))
_CHECKSUM_LENGTH = 6
TOKEN_LENGTH = len(PREFIX) + _BODY_LENGTH + _CHECKSUM_LENGTH


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, remainder = divmod(number, 62)
        digits.append(_ALPHABET[remainder])
    return "".join(reversed(digits)).rjust(width, "0")


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), _CHECKSUM_LENGTH)


def generate_token() -> str:
    body = _base62(int.from_bytes(secrets.token_bytes(_RANDOM_BYTES), "big"), _BODY_LENGTH)
    return f"{PREFIX}{body}{_checksum(body)}"


def is_well_formed(token: str) -> bool:
    """True when `token` has our prefix, length, alphabet and a matching checksum."""
    if len(token) != TOKEN_LENGTH or not token.startswith(PREFIX):
        return False
    rest = token[len(PREFIX) :]
    if any(char not in _ALPHABET for char in rest):
        return False
    body, checksum = rest[:_BODY_LENGTH], rest[_BODY_LENGTH:]
    return hmac.compare_digest(checksum, _checksum(body))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_secret(secret: str) -> str:
    """Hash for other high-entropy secrets we hand out once (invitation links)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
