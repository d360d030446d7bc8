"""Password hashing (argon2) and API-key secret hashing (keyed SHA-256).

Passwords are low-entropy and need a slow hash. API-key secrets are 256-bit random
values, so a keyed SHA-256 is as strong and costs microseconds per request.
"""
from __future__ import annotations

import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def hash_secret(secret: str, key: str) -> str:
    return hmac.new(key.encode(), secret.encode(), hashlib.sha256).hexdigest()


def secret_matches(secret: str, expected_hash: str, key: str) -> bool:
    return hmac.compare_digest(hash_secret(secret, key), expected_hash)


# A short deny-list of the passwords that top every breach list; length and character
# classes catch the rest. (A full breach corpus would need a download we cannot ship.)
COMMON = frozenset({
    "password", "password1", "password123", "12345678", "123456789", "1234567890", "qwerty123", "qwertyuiop",
    "iloveyou", "admin123", "welcome1", "letmein1", "abc12345", "11111111", "00000000", "passw0rd",
    "p@ssw0rd", "changeme", "trustno1", "football1", "monkey123", "dragon123", "sunshine1", "princess1",
})
MIN_LENGTH = 8
MAX_LENGTH = 128


def password_problems(password: str, *, email: str | None = None, username: str | None = None) -> list[str]:
    """What is wrong with a new password (empty list = acceptable)."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters")
    if not any(c.isalpha() for c in password):
        problems.append("must contain a letter")
    if not any(c.isdigit() for c in password) and not any(not c.isalnum() for c in password):
        problems.append("must contain a digit or a symbol")
    lowered = password.lower()
    if lowered in COMMON:
        problems.append("is too common")
    for value in (email, email.split("@")[0] if email else None, username):
        if value and len(value) >= 3 and lowered == value.lower():
            problems.append("must not be your email or username")
            break
    return problems
