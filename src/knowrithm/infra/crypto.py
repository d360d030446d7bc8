"""Secrets at rest: Fernet with rotation (ENCRYPTION_KEY may list several keys, newest first,
comma-separated or as a JSON array); `knowrithm secrets rotate` re-encrypts with the newest."""
from __future__ import annotations

import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


@lru_cache(maxsize=8)
def keyring(keys: str) -> MultiFernet:
    """The keys of an ENCRYPTION_KEY value: the first encrypts, every one decrypts."""
    listed = json.loads(keys) if keys.strip().startswith("[") else keys.split(",")
    return MultiFernet([Fernet(k.strip().encode()) for k in listed if k.strip()])


def _current() -> MultiFernet:
    return keyring(current_app.config["SETTINGS"].ENCRYPTION_KEY)


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
