"""Secrets at rest: Fernet with rotation (ENCRYPTION_KEY may list several keys, newest first)."""
from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


@lru_cache(maxsize=8)
def _fernet(keys: str) -> MultiFernet:
    return MultiFernet([Fernet(k.strip().encode()) for k in keys.split(",") if k.strip()])


def _current() -> MultiFernet:
    return _fernet(current_app.config["SETTINGS"].ENCRYPTION_KEY)


def encrypt(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    return _current().encrypt(value.encode()).decode()


def decrypt(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise RuntimeError("stored secret cannot be decrypted with the configured ENCRYPTION_KEY") from exc


def rotate(token: str | None) -> str | None:
    """Re-encrypts with the newest key (run after prepending a new key to ENCRYPTION_KEY)."""
    return _current().rotate(token.encode()).decode() if token else None


def mask(value: str | None) -> str | None:
    """What responses show instead of a secret."""
    if not value:
        return None
    return "****" + value[-4:] if len(value) > 8 else "****"
