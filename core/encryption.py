"""Secrets at rest (webhook, WMS and platform credentials) as Fernet tokens.

The keys are FIELD_ENCRYPTION_KEYS: the first one encrypts, every one decrypts. To rotate, put a
new key first, run `manage.py rotate_encryption_keys` (every value is re-encrypted with it), then
drop the old key. With no key configured a key is derived from SECRET_KEY: fine for the demo and
tests, but then changing SECRET_KEY makes the stored secrets unreadable (`check --deploy` warns).
"""

import base64
import binascii
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

# A Fernet token is url-safe base64 of version byte 0x80, timestamp, IV, at least one cipher
# block and an HMAC: 73 bytes at least, so 100 characters at least, always starting "gAAAAA".
TOKEN_PREFIX = "gAAAAA"
TOKEN_MIN_LENGTH = 100


class UndecryptableSecret(ImproperlyConfigured):
    """A stored token that none of the configured keys opens (a key was dropped too early)."""


def derived_key(secret_key: str) -> bytes:
    """The fallback key when FIELD_ENCRYPTION_KEYS is empty: derived from SECRET_KEY."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"conduit field encryption")
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode("utf-8")))


@functools.lru_cache(maxsize=8)
def _fernet_for(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if not keys:
        return MultiFernet([Fernet(derived_key(secret_key))])
    try:
        return MultiFernet([Fernet(key.strip().encode("ascii")) for key in keys])
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS: each key must be 32 url-safe base64-encoded bytes, "
            "as made by cryptography.fernet.Fernet.generate_key()."
        ) from exc


def _fernet() -> MultiFernet:
    # Keyed on the settings themselves, so a changed setting (tests, rotation) takes effect.
    return _fernet_for(tuple(settings.FIELD_ENCRYPTION_KEYS), settings.SECRET_KEY)


def encrypt(text: str) -> str:
    return _fernet().encrypt(text.encode("utf-8")).decode("ascii")


def decrypt(token: str, *, what: str = "a secret") -> str:
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise UndecryptableSecret(
            f"{what} cannot be decrypted with FIELD_ENCRYPTION_KEYS: add back the key it was "
            "encrypted with (keep old keys after the first until rotate_encryption_keys has run)."
        ) from None


def is_token(value: str) -> bool:
    """Whether a stored value is a Fernet token rather than legacy plaintext."""
    if not value.startswith(TOKEN_PREFIX) or len(value) < TOKEN_MIN_LENGTH:
        return False
    try:
        return base64.urlsafe_b64decode(value.encode("ascii"))[0] == 0x80
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False


def check_encryption_keys(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """System check (registered in core/apps.py): malformed keys stop every command."""
    try:
        _fernet()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="core.E001")]
    return []


def check_encryption_keys_deployed(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Deployment check: running on the SECRET_KEY-derived key is for the demo only."""
    if settings.FIELD_ENCRYPTION_KEYS:
        return []
    return [
        checks.Warning(
            "FIELD_ENCRYPTION_KEYS is not set: stored secrets are encrypted with a key derived from "
            "DJANGO_SECRET_KEY, so changing that key makes them unreadable.",
            hint="Set FIELD_ENCRYPTION_KEYS to a Fernet key, then run manage.py rotate_encryption_keys.",
            id="core.W001",
        )
    ]
