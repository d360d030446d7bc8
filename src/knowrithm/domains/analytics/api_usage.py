"""API-usage analytics over `ApiRequestLog`.

Log rows are not `TenantOwned` (they are written in bulk outside any request scope), so
every query here takes the company explicitly; `company_id=None` means the whole
platform and is only passed for a super admin who named no company. The overview, trends,
endpoints and per-key figures read the hourly rollups plus the rows after them
(`rollups.usage_rows`); errors and one key's detail read the raw rows.
"""
from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import BigInteger, Float, case, cast, func, select

from knowrithm.domains.auth import key_cache
from knowrithm.domains.auth.models import ApiKey
from knowrithm.domains.auth.request_log import flush
from knowrithm.infra.db import db, iso, sid, utcnow
from knowrithm.infra.tenancy import get_or_404

from .models import ApiRequestLog as Log
from .rollups import usage_rows

_ok = func.sum(case((Log.status_code < 400, 1), else_=0))
_total = func.count(Log.id)
_avg_ms = func.avg(Log.response_time_ms)


def _scope(stmt, company_id: uuid.UUID | None, days: int):
    flush()  # include requests still in the buffer
    stmt = stmt.where(Log.created_at >= utcnow() - timedelta(days=days))
    return stmt.where(Log.company_id == company_id) if company_id else stmt


def _rate(ok, total) -> float:
    return round(100.0 * (ok or 0) / total, 2) if total else 0.0


def _ms(value) -> float:
    return round(float(value), 2) if value is not None else 0.0


def _rolled(company_id, days: int, *, hourly: bool = False):
    u = usage_rows(company_id, utcnow() - timedelta(days=days), days=not hourly)
    total = cast(func.coalesce(func.sum(u.c.requests), 0), BigInteger)
    ok = cast(func.coalesce(func.sum(u.c.requests - u.c.errors), 0), BigInteger)
    avg = cast(func.sum(u.c.total_ms), Float) / func.nullif(func.sum(u.c.requests), 0)
    return u, total, ok, avg


def overview(*, company_id: uuid.UUID | None, days: int) -> dict:
    now = utcnow()
    keys = db.session.execute(select(ApiKey.status, ApiKey.expires_at)).all()  # tenancy-filtered
    expired = sum(1 for s, exp in keys if s == "active" and exp is not None and exp <= now)
    active = sum(1 for s, _ in keys if s == "active") - expired
    revoked = sum(1 for s, _ in keys if s == "revoked")
    _u, total_, ok_, avg_ = _rolled(company_id, days)
    total, ok, avg = db.session.execute(select(total_, ok_, avg_)).one()
    return {"period_days": days,
            "api_keys": {"total": len(keys), "active": active, "expired": expired, "revoked": revoked},
            "usage": {"total_requests": total, "success_rate": _rate(ok, total), "avg_response_time_ms": _ms(avg)}}


def usage_trends(*, company_id: uuid.UUID | None, days: int, granularity: str) -> dict:
    unit = "hour" if granularity == "hourly" else "day"
    u, total, ok, avg = _rolled(company_id, days, hourly=unit == "hour")
    period = func.date_trunc(unit, func.timezone("UTC", u.c.period)).label("period")
    rows = db.session.execute(select(period, total, ok, avg).group_by(period).order_by(period)).all()
    return {"period_days": days, "granularity": granularity,
            "trends": [{"period": p.isoformat() + ("Z" if p.tzinfo is None else ""), "total_requests": n,
                        "success_rate": _rate(ok, n), "avg_response_time": _ms(avg)} for p, n, ok, avg in rows]}


def top_endpoints(*, company_id: uuid.UUID | None, days: int, limit: int) -> dict:
    u, total, ok, avg = _rolled(company_id, days)
    rows = db.session.execute(select(u.c.endpoint, u.c.method, total, ok, avg).group_by(u.c.endpoint, u.c.method)
                              .order_by(total.desc(), u.c.endpoint).limit(limit)).all()
    return {"period_days": days,
            "endpoints": [{"endpoint": e, "method": m, "total_requests": n, "success_rate": _rate(ok, n),
                           "avg_response_time": _ms(avg)} for e, m, n, ok, avg in rows]}


def _per_key(company_id, days) -> dict:
    u, total, ok, avg = _rolled(company_id, days)
    rows = db.session.execute(select(u.c.api_key_id, total, ok, avg).where(u.c.api_key_id.is_not(None))
                              .group_by(u.c.api_key_id)).all()
    return {k: (n, ok, avg) for k, n, ok, avg in rows}


def key_performance(*, company_id: uuid.UUID | None, days: int, limit: int) -> dict:
    stats = _per_key(company_id, days)
    keys = db.session.execute(select(ApiKey)).scalars().all()  # tenancy-filtered
    out = []
    for k in keys:
        n, ok, avg = stats.get(k.id, (0, 0, None))
        out.append({"api_key_id": sid(k.id), "name": k.name, "key_prefix": k.key_prefix, "status": k.status,
                    "total_requests": n, "success_rate": _rate(ok, n), "avg_response_time": _ms(avg),
                    "last_used_at": iso(k.last_used_at), "created_at": iso(k.created_at)})
    out.sort(key=lambda r: (-r["total_requests"], r["name"]))
    return {"period_days": days, "api_keys": out[:limit]}


def error_analysis(*, company_id: uuid.UUID | None, days: int, limit: int) -> dict:
    errors = _scope(select(Log.status_code, _total), company_id, days).where(Log.status_code >= 400)
    codes = db.session.execute(errors.group_by(Log.status_code).order_by(_total.desc())).all()
    endpoints = db.session.execute(
        _scope(select(Log.endpoint, Log.method, _total), company_id, days).where(Log.status_code >= 400)
        .group_by(Log.endpoint, Log.method).order_by(_total.desc(), Log.endpoint).limit(limit)).all()
    return {"period_days": days,
            "status_code_breakdown": [{"status_code": c, "count": n} for c, n in codes],
            "top_error_endpoints": [{"endpoint": e, "method": m, "error_count": n} for e, m, n in endpoints]}


def rate_limit_analysis(*, company_id: uuid.UUID | None, days: int, limit: int) -> dict:
    """Live hourly/daily counters (the ones enforced) against each active key's ceilings."""
    keys = db.session.execute(select(ApiKey).where(ApiKey.status == "active")).scalars().all()
    out = []
    for k in keys:
        hourly, daily = key_cache.current_usage(k.id)
        out.append({"api_key_id": sid(k.id), "name": k.name, "key_prefix": k.key_prefix,
                    "hourly_requests": hourly, "hourly_limit": k.rate_limit_per_hour,
                    "hourly_usage_pct": round(100.0 * hourly / k.rate_limit_per_hour, 2),
                    "daily_requests": daily, "daily_limit": k.rate_limit_per_day,
                    "daily_usage_pct": round(100.0 * daily / k.rate_limit_per_day, 2)})
    out.sort(key=lambda r: -max(r["hourly_usage_pct"], r["daily_usage_pct"]))
    return {"period_days": days, "high_usage_api_keys": out[:limit]}


def detailed_usage(*, api_key_id: str, days: int) -> dict:
    key = get_or_404(ApiKey, api_key_id, what="API key")
    company_id = key.company_id

    def scoped(stmt):
        return _scope(stmt, company_id, days).where(Log.api_key_id == key.id)

    day = func.date(func.timezone("UTC", Log.created_at)).label("day")
    daily = db.session.execute(scoped(select(day, _total, _ok)).group_by(day).order_by(day)).all()
    endpoints = db.session.execute(scoped(select(Log.endpoint, _total, _ok, _avg_ms))
                                   .group_by(Log.endpoint).order_by(_total.desc(), Log.endpoint)).all()
    total = sum(n for _, n, _ in daily)
    return {"api_key": {"id": sid(key.id), "name": key.name, "key_prefix": key.key_prefix, "scopes": key.scopes,
                        "status": key.status},
            "period_days": days, "total_logs": total,
            "daily_breakdown": [{"date": d.isoformat(), "total_requests": n, "success_rate": _rate(ok, n)}
                                for d, n, ok in daily],
            "endpoint_breakdown": [{"endpoint": e, "total_requests": n, "success_rate": _rate(ok, n),
                                    "avg_response_time": _ms(avg)} for e, n, ok, avg in endpoints]}

