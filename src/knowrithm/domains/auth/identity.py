"""Who is calling: the bodies of `GET /auth/user/me` and `GET /auth/validate`."""
from __future__ import annotations

from flask import g
from sqlalchemy import select

from knowrithm.domains.companies.models import Company
from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db
from knowrithm.infra.errors import Unauthorized

from . import key_cache
from .api_keys import api_key_out
from .models import ApiKey, User
from .schemas import company_brief, user_out


def _rows(principal: Principal, with_key: bool = False) -> tuple[User, Company | None, ApiKey | None]:
    """The caller's user, company and (optionally) key in one query: these are hot read-only paths."""
    stmt = (select(User, Company, *([ApiKey] if with_key else [])).select_from(User)
            .outerjoin(Company, Company.id == principal.company_id)
            .where(User.id == principal.user_id))
    if with_key:
        stmt = stmt.outerjoin(ApiKey, ApiKey.id == principal.api_key_id)
    row = db.session.execute(stmt).first()
    if row is None:  # soft-deleted rows are filtered out by infra.tenancy
        raise Unauthorized("User no longer exists", code="TOKEN_INVALID")
    return row[0], row[1], row[2] if with_key else None


def me(principal: Principal) -> dict:
    user, company, _ = _rows(principal)
    return {"user": user_out(user), "company": company_brief(company)}


def credentials_report(principal: Principal, token_payload: dict | None) -> dict:
    """CONTRACT B4: `api_key_info` only when a key was used; everything mirrored under `metadata`."""
    is_key = principal.kind == "api_key"
    user, company, row = _rows(principal, with_key=is_key)
    body: dict = {"valid": True, "auth_type": "api_key" if is_key else "jwt",
                  "user": user_out(user), "company": company_brief(company), "role": principal.role}
    if is_key:
        if row is None:  # deleted since authentication
            raise Unauthorized("Invalid API key or secret", code="INVALID_API_KEY")
        # No log flush here: validate is a hot path. `usage_count` may trail by the buffered
        # requests; the hourly/daily counters are exact: authentication counted this request
        # and kept the totals (a second read only when Redis was down then).
        info = api_key_out(row)
        hourly, daily = g.get("api_key_usage") or key_cache.current_usage(row.id)
        info["usage"] = {"hourly_requests": hourly, "daily_requests": daily}
        body.update(api_key_info=info, scopes=sorted(principal.scopes),
                    rate_limits={"per_hour": row.rate_limit_per_hour, "per_day": row.rate_limit_per_day,
                                 "used_this_hour": hourly, "used_today": daily})
    elif token_payload:
        body["token"] = {"type": token_payload.get("type"), "expires_at": token_payload.get("exp"),
                         "issued_at": token_payload.get("iat"),
                         "impersonator_id": token_payload.get("impersonator_id")}
    body["metadata"] = {k: v for k, v in body.items() if k != "valid"}
    return body
