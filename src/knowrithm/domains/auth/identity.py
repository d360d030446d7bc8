"""Who is calling: the bodies of `GET /auth/user/me` and `GET /auth/validate`."""
from __future__ import annotations

from knowrithm.domains.companies.models import Company
from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db

from . import key_cache
from .accounts import get_user
from .api_keys import api_key_out, get_api_key
from .schemas import company_brief, user_out


def _company(company_id) -> dict | None:
    return company_brief(db.session.get(Company, company_id)) if company_id else None


def me(principal: Principal) -> dict:
    user = get_user(principal.user_id)
    return {"user": user_out(user), "company": _company(principal.company_id)}


def credentials_report(principal: Principal, token_payload: dict | None) -> dict:
    """CONTRACT B4: `api_key_info` only when a key was used; everything mirrored under `metadata`."""
    user = get_user(principal.user_id)
    body: dict = {"valid": True, "auth_type": "api_key" if principal.kind == "api_key" else "jwt",
                  "user": user_out(user), "company": _company(principal.company_id), "role": principal.role}
    if principal.kind == "api_key":
        # No log flush here: validate is a hot path. `usage_count` may trail by the buffered
        # requests; the live hourly/daily counters below are exact.
        row = get_api_key(principal.api_key_id)
        info = api_key_out(row)
        hourly, daily = key_cache.current_usage(row.id)
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
