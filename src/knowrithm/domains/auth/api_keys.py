"""API keys: `ak_` key + `as_` secret, the secret shown once and stored as a keyed hash."""
from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from knowrithm.domains.audit import service as audit
from knowrithm.infra.auth import Principal, scopes_for_role
from knowrithm.infra.db import db, iso, sid, utcnow
from knowrithm.infra.errors import Forbidden, NotFound, ValidationFailed
from knowrithm.infra.tenancy import get_or_404

from . import request_log
from .accounts import get_user
from .models import ApiKey, User
from .passwords import hash_secret
from .schemas import SCOPES



def create_api_key(*, user: User, name: str, scopes: list[str] | None = None, permissions: dict | None = None,
                   expires_in_days: int | None = None, company_id: uuid.UUID | None = None,
                   rate_limit_per_hour: int | None = None, rate_limit_per_day: int | None = None,
                   actor: Principal | None = None) -> tuple[ApiKey, str]:
    scopes = list(dict.fromkeys(scopes or ["read", "write"]))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ValidationFailed("Unknown scopes", details={"scopes": [f"unknown: {', '.join(map(str, unknown))}; "
                                                                     f"valid: {', '.join(SCOPES)}"]})
    beyond = [s for s in scopes if s not in scopes_for_role(user.role)]
    if beyond:
        raise Forbidden("A key cannot carry more power than its owner's role",
                        code="SCOPE_NOT_ALLOWED",
                        details={"scopes": [f"not allowed for role {user.role}: {', '.join(beyond)}"]})
    if permissions:
        # Per-key permissions are not enforced anywhere, so storing them would promise a limit that
        # does not exist. Narrow a key with its scopes instead.
        raise ValidationFailed("Per-key permissions are not supported; narrow the key with its scopes",
                               code="PERMISSIONS_UNSUPPORTED",
                               details={"permissions": ["must be empty or omitted"]})
    company_id = company_id or user.company_id
    if company_id is None:
        raise ValidationFailed("API keys belong to a company; this user has none",
                               details={"company_id": ["required for platform users"]})
    key = "ak_" + secrets.token_hex(24)
    secret = "as_" + secrets.token_urlsafe(32)
    row = ApiKey(company_id=company_id, user_id=user.id, name=name, key=key, key_prefix=key[:8],
                 secret_hash=hash_secret(secret, current_app.config["SETTINGS"].SECRET_KEY), scopes=scopes,
                 permissions={}, status="active",
                 expires_at=utcnow() + timedelta(days=expires_in_days) if expires_in_days else None)
    if rate_limit_per_hour:
        row.rate_limit_per_hour = rate_limit_per_hour
    if rate_limit_per_day:
        row.rate_limit_per_day = rate_limit_per_day
    db.session.add(row)
    db.session.flush()
    audit.record("auth.api_key_created", actor=actor, company_id=company_id, user_id=user.id, entity_type="api_key",
                 entity_id=row.id, description=f"API key '{name}' created", risk_level="medium",
                 details={"scopes": scopes, "key_prefix": row.key_prefix})
    db.session.commit()
    return row, secret


def issue_api_key(*, actor: Principal, company_id: uuid.UUID | None = None, **fields) -> tuple[ApiKey, str]:
    """`POST /auth/api-keys`: a key of the calling user (for another company only as a super admin)."""
    return create_api_key(user=get_user(actor.user_id), company_id=company_id, actor=actor, **fields)


def list_api_keys(*, user_id: uuid.UUID) -> list[ApiKey]:
    request_log.flush()  # usage_count includes requests still in the log buffer
    return list(db.session.execute(
        select(ApiKey).where(ApiKey.user_id == user_id, ApiKey.status == "active").order_by(ApiKey.created_at.desc())
    ).scalars())


def revoke_api_key(*, actor: Principal, api_key_id: str) -> ApiKey:
    """Owners revoke their keys; admins any key of their company. Others get the same 404."""
    row = get_or_404(ApiKey, api_key_id, what="API key")
    if row.user_id != actor.user_id and not actor.is_admin:
        raise NotFound("API key not found")
    if row.status != "revoked":  # idempotent: the SDKs retry DELETE on timeouts
        row.status = "revoked"
        row.revoked_at = utcnow()
        audit.record("auth.api_key_revoked", actor=actor, company_id=row.company_id, entity_type="api_key",
                     entity_id=row.id, description=f"API key '{row.name}' revoked", risk_level="medium",
                     details={"key_prefix": row.key_prefix, "owner_id": str(row.user_id)})
        db.session.commit()
    return row


def get_api_key(key_id: uuid.UUID) -> ApiKey | None:
    return db.session.get(ApiKey, key_id)


def api_key_out(row: ApiKey) -> dict:
    status = row.status
    if status == "active" and row.expires_at and row.expires_at <= utcnow():
        status = "expired"
    return {"id": sid(row.id), "name": row.name, "key_prefix": row.key_prefix, "scopes": row.scopes,
            "permissions": row.permissions, "status": status, "rate_limit_per_hour": row.rate_limit_per_hour,
            "rate_limit_per_day": row.rate_limit_per_day, "usage_count": row.usage_count,
            "last_used_at": iso(row.last_used_at), "expires_at": iso(row.expires_at),
            "created_at": iso(row.created_at), "updated_at": iso(row.updated_at)}
