"""Turns request credentials into a `Principal` (registered with infra.auth at app start).

Bearer wins: a valid access token defines the caller even when API-key headers come too
(the Python SDK always sends its key). A bad Bearer token with a good key pair falls back
to the key; with nothing valid the Bearer error is reported.
"""
from __future__ import annotations

import uuid

from flask import current_app, g, request

from knowrithm.infra.auth import Principal, scopes_for_role
from knowrithm.infra.db import db, utcnow
from knowrithm.infra.errors import ApiError, Locked, Unauthorized

from . import key_cache, tokens
from .models import User
from .passwords import secret_matches


def resolve() -> Principal | None:
    bearer_error: ApiError | None = None
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        try:
            return principal_from_token(header[7:].strip())
        except (Unauthorized, Locked) as exc:
            bearer_error = exc
    key, secret = request.headers.get("X-API-Key"), request.headers.get("X-API-Secret")
    if key and secret:
        principal = principal_from_api_key(key.strip(), secret.strip())
        if principal is not None:
            return principal
        if bearer_error is None:
            raise Unauthorized("Invalid API key or secret", code="INVALID_API_KEY")
    if bearer_error is not None:
        raise bearer_error
    return None


def principal_from_token(token: str) -> Principal:
    payload = tokens.decode(token, expected=("access", "lead"), check_revoked=False)
    if payload["type"] == "lead":
        revoked, suspended = key_cache.lead_token_state(payload, tokens.revocation_keys(payload))
        if revoked:
            raise Unauthorized("Token has been revoked", code="TOKEN_REVOKED")
        if suspended:
            raise Unauthorized("This company is suspended", code="COMPANY_SUSPENDED")
        return Principal(kind="lead", company_id=uuid.UUID(payload["company_id"]), lead_id=uuid.UUID(payload["sub"]),
                         role="lead", session_id=payload.get("sid"), origin=request.headers.get("Origin"),
                         token_jti=payload["jti"], token_exp=payload["exp"])
    user, revoked = key_cache.token_user(payload, tokens.revocation_keys(payload))
    if revoked:
        raise Unauthorized("Token has been revoked", code="TOKEN_REVOKED")
    check_may_act(user, payload, user.company_suspended if user is not None else None)
    impersonator = payload.get("impersonator_id")
    g.token_payload = payload
    return Principal(kind="user", company_id=user.company_id, user_id=user.id, role=user.role,
                     impersonator_id=uuid.UUID(impersonator) if impersonator else None,
                     token_jti=payload["jti"], token_exp=payload["exp"])


def active_user(payload: dict) -> User:
    """The token's `User` row, if it may still act (refresh needs the row itself)."""
    try:
        key = uuid.UUID(payload["sub"])
    except (ValueError, KeyError, TypeError):
        raise Unauthorized("Invalid token", code="TOKEN_INVALID")
    user = db.session.get(User, key)
    check_may_act(user, payload, key_cache.company_is_suspended(user.company_id) if user is not None else None)
    return user


def check_may_act(user, payload: dict, company_suspended: bool | None = None) -> None:
    """Exists, not locked or disabled, its company not suspended, password unchanged since the
    token was issued."""
    if user is None or user.deleted_at is not None:
        raise Unauthorized("User no longer exists", code="TOKEN_INVALID")
    if user.locked_until and user.locked_until > utcnow():
        raise Locked("Account is locked", code="ACCOUNT_LOCKED")
    if user.status in ("suspended", "inactive"):
        raise Unauthorized(f"Account is {user.status}", code="ACCOUNT_INACTIVE")
    if company_suspended and user.role != "super_admin":
        raise Unauthorized("Your company is suspended", code="COMPANY_SUSPENDED")
    if user.password_changed_at and int(payload.get("iat", 0)) < int(user.password_changed_at.timestamp()):
        raise Unauthorized("Token predates a password change; log in again", code="TOKEN_REVOKED")


def principal_from_api_key(key: str, secret: str) -> Principal | None:
    entry = key_cache.lookup(key)
    if entry is None:
        return None
    if not secret_matches(secret, entry.secret_hash, current_app.config["SETTINGS"].SECRET_KEY):
        return None
    if entry.status != "active" or entry.revoked:
        raise Unauthorized("API key has been revoked", code="API_KEY_REVOKED")
    if entry.expires_at and entry.expires_at <= utcnow():
        raise Unauthorized("API key has expired", code="API_KEY_EXPIRED")
    if entry.user_deleted:
        raise Unauthorized("The key's owner no longer exists", code="ACCOUNT_INACTIVE")
    if entry.user_status in ("suspended", "inactive"):
        raise Unauthorized(f"Account is {entry.user_status}", code="ACCOUNT_INACTIVE")
    if entry.company_suspended and entry.role != "super_admin":
        raise Unauthorized("Your company is suspended", code="COMPANY_SUSPENDED")
    # A login lockout does not block keys: otherwise anyone could stop a company's
    # integrations by mistyping its admin's password five times.
    # From here the request is attributable to the key: it is logged even if throttled.
    g.api_key_entry = entry
    key_cache.enforce_limits(entry)
    # The owner's current role bounds the key (the cache reloads on any role change).
    return Principal(kind="api_key", company_id=entry.company_id, user_id=entry.user_id, role=entry.role,
                     scopes=entry.scopes & scopes_for_role(entry.role), api_key_id=entry.id)
