"""JWT access/refresh/lead tokens and their revocation list in Redis.

An access token and its refresh token share a session id (`sid`); refreshing keeps the
`sid`, so logging out revokes the whole chain even when the client (like both SDKs)
sends only the access token. Single tokens are revoked by `jti` (refresh rotation).
"""
from __future__ import annotations

import time
import uuid

import jwt
from flask import current_app

from knowrithm.infra.errors import Unauthorized
from knowrithm.infra.redis import get_redis

ALGORITHM = "HS256"
REVOKED_PREFIX = "knowrithm:revoked:"
REVOKED_SESSION_PREFIX = "knowrithm:revoked-sid:"


def _settings():
    return current_app.config["SETTINGS"]


def issue(subject: str, *, kind: str, ttl: int, claims: dict | None = None) -> tuple[str, dict]:
    now = int(time.time())
    payload = {"sub": subject, "type": kind, "iat": now, "nbf": now, "exp": now + ttl, "jti": uuid.uuid4().hex,
               **(claims or {})}
    return jwt.encode(payload, _settings().JWT_SECRET_KEY, algorithm=ALGORITHM), payload


def issue_pair(user, *, impersonator_id=None, session_id: str | None = None) -> dict:
    s = _settings()
    claims = {"role": user.role, "company_id": str(user.company_id) if user.company_id else None,
              "sid": session_id or uuid.uuid4().hex}
    if impersonator_id:
        claims["impersonator_id"] = str(impersonator_id)
    access, access_claims = issue(str(user.id), kind="access", ttl=s.JWT_ACCESS_TTL_SECONDS, claims=claims)
    refresh, _ = issue(str(user.id), kind="refresh", ttl=s.JWT_REFRESH_TTL_SECONDS, claims=claims)
    return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
            "expires_in": s.JWT_ACCESS_TTL_SECONDS, "expires_at": access_claims["exp"]}


# Tokens whose signature and claims checked out, by (secret, token): a client sends the same
# access token on every request, and verifying it (base64, JSON, HMAC, claims) is a sizeable share
# of a cached read. Only the time-bound claims can change their verdict; they are checked again
# on every use (a token that was not yet valid is never kept). Revocation is never cached (the
# caller asks Redis every time).
_verified: dict[tuple[str, str], dict] = {}
_VERIFIED_MAX = 10_000


def _verify(token: str, secret: str) -> dict:
    payload = _verified.get((secret, token))
    if payload is None:
        payload = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "jti", "type"]})
        if len(_verified) >= _VERIFIED_MAX:
            _verified.clear()
        _verified[(secret, token)] = payload
    elif int(payload["exp"]) <= time.time():  # PyJWT's rule, no leeway; nbf and iat only get truer with time
        raise jwt.ExpiredSignatureError("Signature has expired")
    return dict(payload)


def decode(token: str, *, expected: str | tuple[str, ...], check_revoked: bool = True) -> dict:
    try:
        payload = _verify(token, _settings().JWT_SECRET_KEY)
    except jwt.ExpiredSignatureError:
        raise Unauthorized("Token has expired", code="TOKEN_EXPIRED")
    except jwt.PyJWTError:
        raise Unauthorized("Invalid token", code="TOKEN_INVALID")
    kinds = (expected,) if isinstance(expected, str) else expected
    if payload.get("type") not in kinds:
        raise Unauthorized("Wrong token type", code="TOKEN_INVALID")
    if check_revoked and is_revoked(payload):
        raise Unauthorized("Token has been revoked", code="TOKEN_REVOKED")
    return payload


def _ttl(payload: dict) -> int:
    return max(1, int(payload.get("exp", time.time() + 3600) - time.time()))


def revoke(payload: dict) -> None:
    get_redis().set(REVOKED_PREFIX + payload["jti"], "1", ex=_ttl(payload))


def revoke_session(payload: dict) -> None:
    """Revokes every token of the payload's login session (access and refresh alike)."""
    sid = payload.get("sid")
    if not sid:
        revoke(payload)
        return
    get_redis().set(REVOKED_SESSION_PREFIX + sid, "1", ex=_settings().JWT_REFRESH_TTL_SECONDS)


def revocation_keys(payload: dict) -> list[str]:
    keys = [REVOKED_PREFIX + payload["jti"]]
    if payload.get("sid"):
        keys.append(REVOKED_SESSION_PREFIX + payload["sid"])
    return keys


def is_revoked(payload: dict) -> bool:
    return bool(get_redis().exists(*revocation_keys(payload)))


# --- single-purpose tokens (links in mails) ----------------------------------------------

def issue_purpose(user, purpose: str, ttl: int, **claims) -> str:
    token, _ = issue(str(user.id), kind=purpose, ttl=ttl, claims={"email": user.email, **claims})
    return token


def consume_purpose(token: str, purpose: str) -> dict:
    """Decodes a one-time token and revokes it, so a mailed link works once."""
    payload = decode(token, expected=purpose)
    revoke(payload)
    return payload
