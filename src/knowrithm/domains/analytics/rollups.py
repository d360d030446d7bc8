"""Hourly and daily aggregates of the request logs, so the API-usage charts read a few rows per
period instead of every request.

Beat runs `roll_up` each hour: every complete hour after the last rolled-up one is aggregated
from `api_request_logs` (per company, key, caller type, method and endpoint), then every
complete day is aggregated from its hours. Each run replaces the periods it computes, so a run
repeated (or two at once) leaves the same rows. Readers (`usage_rows`) take rolled-up days, then hours up
to the watermark, then raw rows after it, so figures are current to the request; windows are
then aligned to whole hours. Hourly charts read hour rows only.

The same runs fill `session_rollups` (each caller's hour, summarised by `session_parts`) and
`client_ip_rollups` (addresses per hour and per day) for the same periods, so one watermark
serves every reader (analytics.activity).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import DateTime, case, cast, delete, func, insert, literal, select, text, union_all

from knowrithm.domains.auth.request_log import flush
from knowrithm.infra.db import db, utcnow

from .models import ApiRequestLog as Log
from .models import ApiUsageRollup as Rollup
from .models import ClientIpRollup, SessionRollup

HOUR, DAY = "hour", "day"
MAX_HOURS_PER_RUN = 24 * 31  # a first run over a long history catches up a month at a time
SESSION_GAP = timedelta(minutes=30)  # a caller's silence longer than this ends a session

# The request-log rows that open sessions: console users (JWT) and widget visitors (lead
# token); API-key traffic is machine traffic. The caller is the lead, else the user.
SESSION_ROWS = "auth_type IN ('user', 'lead') AND coalesce(lead_id, user_id) IS NOT NULL"


def session_parts(where: str) -> str:
    """SQL: the request-log rows matching `where` (and SESSION_ROWS), one row per caller and
    hour: period, company_id, user_id, lead_id, first_at, last_at, and the gaps longer than
    :gap between the hour's consecutive requests (`breaks`, their total `break_time`). Hours
    join into sessions exactly: a caller's sessions = 1 + breaks + the gaps longer than :gap
    between consecutive hours, and their total length = the span minus every such gap."""
    return f"""
SELECT period, company_id, user_id, lead_id, min(created_at) AS first_at, max(created_at) AS last_at,
       count(*) FILTER (WHERE gap > :gap) AS breaks,
       coalesce(sum(gap) FILTER (WHERE gap > :gap), interval '0') AS break_time
FROM (SELECT period, company_id, user_id, lead_id, created_at,
             created_at - lag(created_at) OVER (PARTITION BY company_id, lead_id, user_id, period
                                                ORDER BY created_at) AS gap
      FROM (SELECT date_trunc('hour', created_at) AS period, company_id, lead_id, created_at,
                   CASE WHEN lead_id IS NULL THEN user_id END AS user_id
            FROM api_request_logs WHERE {SESSION_ROWS} AND ({where})) AS logged) AS r
GROUP BY period, company_id, lead_id, user_id"""


_ROLL_SESSIONS = text(f"""
INSERT INTO session_rollups (id, period_start, company_id, user_id, lead_id, first_at, last_at, breaks, break_time)
SELECT gen_random_uuid(), period, company_id, user_id, lead_id, first_at, last_at, breaks, break_time
FROM ({session_parts("created_at >= :start AND created_at < :end")}) AS parts""")


def _hour(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def watermark(granularity: str = HOUR) -> datetime | None:
    """End of the last rolled-up period (None before the first run)."""
    last = db.session.execute(select(func.max(Rollup.period_start)).where(Rollup.granularity == granularity)).scalar()
    if last is None:
        return None
    return last + (timedelta(hours=1) if granularity == HOUR else timedelta(days=1))


def roll_up(now: datetime | None = None) -> dict:
    flush()
    now = now or utcnow()
    end = _hour(now)
    start = watermark(HOUR)
    if start is None:
        first = db.session.execute(select(func.min(Log.created_at))).scalar()
        if first is None:
            return {"hours": 0, "days": 0}
        start = _hour(first)
    end = min(end, start + timedelta(hours=MAX_HOURS_PER_RUN))
    hours = _roll_hours(start, end) if start < end else 0
    days = _roll_days(end)
    db.session.commit()
    return {"hours": hours, "days": days, "until": end.isoformat()}


def _roll_hours(start: datetime, end: datetime) -> int:
    period = func.date_trunc("hour", Log.created_at)
    aggregate = (select(func.gen_random_uuid(), literal(HOUR), period, Log.company_id, Log.api_key_id, Log.auth_type, Log.method,
                        Log.endpoint, func.count(), func.count(case((Log.status_code >= 400, 1))),
                        func.sum(Log.response_time_ms), func.max(Log.response_time_ms))
                 .where(Log.created_at >= start, Log.created_at < end)
                 .group_by(period, Log.company_id, Log.api_key_id, Log.auth_type, Log.method, Log.endpoint))
    db.session.execute(delete(SessionRollup).where(SessionRollup.period_start >= start, SessionRollup.period_start < end))
    db.session.execute(_ROLL_SESSIONS, {"start": start, "end": end, "gap": SESSION_GAP})
    addresses = (select(func.gen_random_uuid(), literal(HOUR), period, Log.company_id, Log.user_id, Log.lead_id,
                        Log.ip_address)
                 .where(Log.created_at >= start, Log.created_at < end, Log.ip_address.is_not(None))
                 .group_by(period, Log.company_id, Log.user_id, Log.lead_id, Log.ip_address))
    _replace_addresses(HOUR, start, end, addresses)
    return _replace(HOUR, start, end, aggregate)


def _roll_days(end: datetime) -> int:
    """Every complete day whose hours are all rolled up, from the hour rows."""
    day_end = end.replace(hour=0)
    start = watermark(DAY)
    if start is None:
        start = db.session.execute(select(func.min(Rollup.period_start)).where(Rollup.granularity == HOUR)).scalar()
        if start is None:
            return 0
        start = start.replace(hour=0)
    if start >= day_end:
        return 0
    day = func.date_trunc("day", Rollup.period_start)
    aggregate = (select(func.gen_random_uuid(), literal(DAY), day, Rollup.company_id, Rollup.api_key_id, Rollup.auth_type, Rollup.method,
                        Rollup.endpoint, func.sum(Rollup.requests), func.sum(Rollup.errors), func.sum(Rollup.total_ms),
                        func.max(Rollup.max_ms))
                 .where(Rollup.granularity == HOUR, Rollup.period_start >= start, Rollup.period_start < day_end)
                 .group_by(day, Rollup.company_id, Rollup.api_key_id, Rollup.auth_type, Rollup.method,
                           Rollup.endpoint))
    ip = ClientIpRollup
    ip_day = func.date_trunc("day", ip.period_start)
    _replace_addresses(DAY, start, day_end, select(func.gen_random_uuid(), literal(DAY), ip_day, ip.company_id,
                                                   ip.user_id, ip.lead_id, ip.ip_address)
                       .where(ip.granularity == HOUR, ip.period_start >= start, ip.period_start < day_end)
                       .group_by(ip_day, ip.company_id, ip.user_id, ip.lead_id, ip.ip_address))
    return _replace(DAY, start, day_end, aggregate)


def _replace(granularity: str, start: datetime, end: datetime, aggregate) -> int:
    """Replaces the periods in [start, end); returns how many periods that covers."""
    db.session.execute(delete(Rollup).where(Rollup.granularity == granularity, Rollup.period_start >= start,
                                            Rollup.period_start < end))
    columns = ["id", "granularity", "period_start", "company_id", "api_key_id", "auth_type", "method", "endpoint",
               "requests", "errors", "total_ms", "max_ms"]
    db.session.execute(insert(Rollup).from_select(columns, aggregate))
    return int((end - start) / (timedelta(hours=1) if granularity == HOUR else timedelta(days=1)))


def _replace_addresses(granularity: str, start: datetime, end: datetime, addresses) -> None:
    ip = ClientIpRollup
    db.session.execute(delete(ip).where(ip.granularity == granularity, ip.period_start >= start, ip.period_start < end))
    db.session.execute(insert(ip).from_select(["id", "granularity", "period_start", "company_id", "user_id", "lead_id",
                                               "ip_address"], addresses))


def usage_rows(company_id, since: datetime, *, days: bool = True):
    """(period, company_id, api_key_id, method, endpoint, requests, errors, total_ms) since `since`
    (aligned to its hour): day rows for the whole days rolled up (unless `days` is false: an
    hourly chart), hour rows around them, then raw rows after the hour watermark."""
    flush()
    since = _hour(since)
    hour_mark = max(watermark(HOUR) or since, since)
    first_day = since if since.hour == 0 else since.replace(hour=0) + timedelta(days=1)
    day_mark = min(max(watermark(DAY) or first_day, first_day), hour_mark) if days else first_day
    parts = [_rolled(DAY, first_day, day_mark), _rolled(HOUR, since, min(first_day, hour_mark)),
             _rolled(HOUR, day_mark, hour_mark)]
    period = cast(func.date_trunc("hour", Log.created_at), DateTime(timezone=True))
    raw = (select(period.label("period"), Log.company_id, Log.api_key_id, Log.method, Log.endpoint,
                  func.count().label("requests"), func.count(case((Log.status_code >= 400, 1))).label("errors"),
                  func.sum(Log.response_time_ms).label("total_ms"))
           .where(Log.created_at >= hour_mark)
           .group_by(period, Log.company_id, Log.api_key_id, Log.method, Log.endpoint))
    if company_id is not None:
        parts = [p.where(Rollup.company_id == company_id) for p in parts]
        raw = raw.where(Log.company_id == company_id)
    return union_all(*parts, raw).subquery("usage")


def _rolled(granularity: str, start: datetime, end: datetime):
    return select(Rollup.period_start.label("period"), Rollup.company_id, Rollup.api_key_id, Rollup.method,
                  Rollup.endpoint, Rollup.requests.label("requests"), Rollup.errors.label("errors"),
                  Rollup.total_ms.label("total_ms")).where(Rollup.granularity == granularity,
                                                           Rollup.period_start >= start, Rollup.period_start < end)
