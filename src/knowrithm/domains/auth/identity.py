"""Who is calling: the bodies of `GET /auth/user/me` and `GET /auth/validate`."""
from __future__ import annotations

from datetime import datetime

from flask import g
from sqlalchemy import bindparam, select

from knowrithm.domains.companies.models import Company
from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db
from knowrithm.infra.errors import Unauthorized
from knowrithm.infra.read_cache import ReadCache

from . import key_cache
from .api_keys import api_key_out
from .models import ApiKey, User
from .schemas import company_brief, user_out


def _rows_statement(with_key: bool):
    # Built once: these are hot read-only paths, and only the ids vary.
    stmt = (select(User, Company, *([ApiKey] if with_key else [])).select_from(User)
            .outerjoin(Company, Company.id == bindparam("company_id"))
            .where(User.id == bindparam("user_id")))
    if with_key:
        stmt = stmt.outerjoin(ApiKey, ApiKey.id == bindparam("api_key_id"))
    return stmt


_ROWS = {False: _rows_statement(False), True: _rows_statement(True)}


def _rows(principal: Principal, with_key: bool = False) -> tuple[User, Company | None, ApiKey | None]:
    """The caller's user, company and (optionally) key in one query."""
    row = db.session.execute(_ROWS[with_key], {"company_id": principal.company_id, "user_id": principal.user_id,
                                               "api_key_id": principal.api_key_id}).first()
    if row is None:  # soft-deleted rows are filtered out by infra.tenancy
        raise Unauthorized("User no longer exists", code="TOKEN_INVALID")
    return row[0], row[1], row[2] if with_key else None


# `/auth/validate` is called before every SDK session and by monitors: its rows are served from
# memory until one of their tables is written anywhere in the cluster (infra/read_cache.py).
_VALIDATE_ROWS = ReadCache("auth.validate", [User, Company, ApiKey])


def _validate_rows(principal: Principal, is_key: bool) -> tuple[dict, dict | None, dict | None, datetime | None]:
    """(user, company, key) as `/auth/validate` shows them, and the key's expiry."""
    def load():
        user, company, row = _rows(principal, with_key=is_key)
        return (user_out(user), company_brief(company), api_key_out(row) if row is not None else None,
                row.expires_at if row is not None else None)

    return _VALIDATE_ROWS.get((principal.user_id, principal.company_id, principal.api_key_id, is_key), load,
                              until=lambda value: value[3].timestamp() if value[3] else None)


def me(principal: Principal) -> dict:
    user, company, _ = _rows(principal)
    return {"user": user_out(user), "company": company_brief(company)}


def credentials_report(principal: Principal, token_payload: dict | None) -> dict:
    """`/auth/validate`: `api_key_info` only when a key was used; everything mirrored under `metadata`."""
    is_key = principal.kind == "api_key"
    user, company, key, _ = _validate_rows(principal, is_key)
    body: dict = {"valid": True, "auth_type": "api_key" if is_key else "jwt",
                  "user": dict(user), "company": dict(company) if company is not None else None,
                  "role": principal.role}
    if is_key:
        if key is None:  # deleted since authentication
            raise Unauthorized("Invalid API key or secret", code="INVALID_API_KEY")
        # No log flush here: validate is a hot path. `usage_count` may trail by the buffered
        # requests; the hourly/daily counters are exact: authentication counted this request
        # and kept the totals (a second read only when Redis was down then).
        info = dict(key)
        hourly, daily = g.get("api_key_usage") or key_cache.current_usage(principal.api_key_id)
        info["usage"] = {"hourly_requests": hourly, "daily_requests": daily}
        body.update(api_key_info=info, scopes=sorted(principal.scopes),
                    rate_limits={"per_hour": key["rate_limit_per_hour"], "per_day": key["rate_limit_per_day"],
                                 "used_this_hour": hourly, "used_today": daily})
    elif token_payload:
        body["token"] = {"type": token_payload.get("type"), "expires_at": token_payload.get("exp"),
                         "issued_at": token_payload.get("iat"),
                         "impersonator_id": token_payload.get("impersonator_id")}
    body["metadata"] = {k: v for k, v in body.items() if k != "valid"}
    return body
