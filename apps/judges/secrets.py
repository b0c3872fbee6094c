"""Encryption of judge API keys stored in the database (Fernet, key derived from settings)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    # JUDGE_SECRETS_KEY lets operators rotate SECRET_KEY without losing stored judge keys.
    material = (settings.JUDGE_SECRETS_KEY or settings.SECRET_KEY).encode()
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(material).digest()))


def secret_encrypt(plaintext: str) -> str:
    """Return the ciphertext of a secret for storage."""
    return _fernet().encrypt(plaintext.encode()).decode()


def secret_decrypt(ciphertext: str) -> str:
    """Return the plaintext of a stored secret, or '' when it cannot be decrypted (key changed)."""
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except (InvalidToken, ValueError):
        return ""
