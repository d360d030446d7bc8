"""Figures computed from the request logs and lead activity: visitor and user sessions,
client IPs, lead engagement.

A session is one caller's run of requests (a console user by JWT, or a widget visitor by lead
token) with no gap longer than SESSION_GAP; its duration runs from its first to its last
request. API-key traffic is machine traffic and opens no session. Sessions and addresses are
read from the hourly rollups plus the rows after them (analytics.rollups). Request logs and
rollups are not tenant-owned, so every query names the company.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select, text

from knowrithm.domains.auth.request_log import flush
from knowrithm.infra.db import db

from .models import ApiRequestLog
from .rollups import DAY, HOUR, SESSION_GAP, session_parts, watermark

# Rolled-up hours [h0, h1) come from the rollups; the window's rows outside them (the partial
# hour at its start, and everything after the watermark) are summarised the same way on the fly.
_SESSIONS = text(f"""
WITH parts AS (
  SELECT coalesce(lead_id, user_id) AS actor, first_at, last_at, breaks, break_time FROM session_rollups
  WHERE company_id = :company_id AND period_start >= :h0 AND period_start < :h1
  UNION ALL
  SELECT coalesce(lead_id, user_id), first_at, last_at, breaks, break_time FROM ({session_parts(
      "company_id = :company_id AND created_at >= :since AND created_at <= :until "
      "AND NOT (created_at >= :h0 AND created_at < :h1)")}) AS live
), linked AS (
  SELECT breaks, break_time, last_at - first_at AS span,
         first_at - lag(last_at) OVER (PARTITION BY actor ORDER BY first_at) AS gap
  FROM parts
)
SELECT coalesce(sum(breaks), 0) + count(*) FILTER (WHERE gap IS NULL OR gap > :gap),
       coalesce(sum(extract(epoch FROM span)) - sum(extract(epoch FROM break_time))
                + coalesce(sum(extract(epoch FROM gap)) FILTER (WHERE gap <= :gap), 0), 0)
FROM linked""")

_ADDRESSES = text("""
SELECT count(DISTINCT ip_address) FROM (
  SELECT ip_address FROM client_ip_rollups
  WHERE company_id = :company_id AND granularity = 'day' AND period_start >= :d0 AND period_start < :d1
  UNION ALL
  SELECT ip_address FROM client_ip_rollups
  WHERE company_id = :company_id AND granularity = 'hour'
    AND (period_start >= :h0 AND period_start < :d0 OR period_start >= :d1 AND period_start < :h1)
  UNION ALL
  SELECT ip_address FROM api_request_logs
  WHERE company_id = :company_id AND created_at >= :since AND created_at <= :until
    AND NOT (created_at >= :h0 AND created_at < :h1)
) AS seen""")


def _rolled_range(since: datetime, until: datetime) -> dict:
    """The whole hours [h0, h1) and whole days [d0, d1) inside [since, until] the rollups cover
    (empty ranges when they cover none)."""
    hour = timedelta(hours=1)
    h0 = since.replace(minute=0, second=0, microsecond=0)
    if h0 < since:
        h0 += hour
    h1 = min(watermark(HOUR) or h0, until.replace(minute=0, second=0, microsecond=0))
    h1 = max(h1, h0)
    d0 = h0.replace(hour=0)
    if d0 < h0:
        d0 += timedelta(days=1)
    if d0 >= h1:
        d0 = d1 = h1
    else:
        d1 = min(max(watermark(DAY) or d0, d0), h1.replace(hour=0))
    return {"h0": h0, "h1": h1, "d0": d0, "d1": d1}


def session_totals(company_id: uuid.UUID, since: datetime, until: datetime) -> tuple[int, Decimal, int]:
    """(sessions, their total length in seconds, distinct client IPs of every logged request)
    in [since, until], exactly as a window over the raw rows would count them."""
    flush()
    params = {"company_id": company_id, "since": since, "until": until, "gap": SESSION_GAP,
              **_rolled_range(since, until)}
    count, seconds = db.session.execute(_SESSIONS, params).one()
    ips = db.session.execute(_ADDRESSES, params).scalar()
    return int(count), Decimal(seconds), int(ips or 0)


def session_stats(company_id: uuid.UUID, since: datetime, until: datetime) -> tuple[int, float, int]:
    """(sessions, average duration in minutes, distinct client IPs of every logged request)."""
    count, seconds, ips = session_totals(company_id, since, until)
    return count, round(float(seconds) / count / 60, 2) if count else 0.0, ips


def top_client_ips(company_id: uuid.UUID, start: datetime, end: datetime, limit: int = 10) -> list[dict]:
    n = func.count(ApiRequestLog.id)
    rows = db.session.execute(
        select(ApiRequestLog.ip_address, n)
        .where(ApiRequestLog.company_id == company_id, ApiRequestLog.created_at.between(start, end),
               ApiRequestLog.ip_address.is_not(None))
        .group_by(ApiRequestLog.ip_address).order_by(n.desc(), ApiRequestLog.ip_address).limit(limit)).all()
    return [{"ip_address": ip, "request_count": count} for ip, count in rows]


def engagement_days(leads) -> float:
    """Average days from a lead's creation to its latest activity (chat, status change) for the
    leads in the `leads` subquery; a lead never active since it was created counts 0."""
    span = func.extract("epoch", func.coalesce(leads.c.last_activity, leads.c.created_at) - leads.c.created_at)
    value = db.session.execute(select(func.avg(func.greatest(span, 0)))).scalar()
    return round(float(value) / 86400, 2) if value is not None else 0.0

