"""Helpers every report shares: scalar and pair queries, rounding, the date range, daily series."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import Date, cast, func, literal_column, select

from knowrithm.domains.conversations.models import Conversation, Message
from knowrithm.infra.db import db, utcnow
from knowrithm.infra.errors import ValidationFailed

UNKNOWN = literal_column("'unknown'")  # a literal, so GROUP BY matches the SELECT expression


def scalar_of(stmt):
    return db.session.execute(stmt).scalar() or 0


def pairs_of(stmt) -> dict:
    return {str(k): v for k, v in db.session.execute(stmt).all()}


def round_or_zero(value, digits=2):
    return round(float(value), digits) if value is not None else 0.0


def percent(part, whole) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def date_range(start_date: str | None, end_date: str | None, *, default_days: int = 30) -> tuple[datetime, datetime]:
    def parse(value: str, field: str) -> datetime:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationFailed("Invalid date", details={field: [f"{value!r} is not an ISO-8601 date"]}) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)

    end = parse(end_date, "end_date") if end_date else utcnow()
    start = parse(start_date, "start_date") if start_date else end - timedelta(days=default_days)
    if start > end:
        raise ValidationFailed("start_date is after end_date", details={"start_date": ["must be before end_date"]})
    return start, end


def daily_counts(model, column, start, end, label="count") -> list[dict]:
    day = cast(column, Date)
    rows = db.session.execute(select(day, func.count()).select_from(model)
                              .where(column >= start, column <= end).group_by(day).order_by(day)).all()
    return [{"date": d.isoformat(), label: n} for d, n in rows]


def activity_timeline(start, end) -> list[dict]:
    """Conversations started and messages sent per day in [start, end]."""
    conv = {row["date"]: row["conversations"] for row in
            daily_counts(Conversation, Conversation.created_at, start, end, "conversations")}
    msgs = {row["date"]: row["messages"] for row in daily_counts(Message, Message.created_at, start, end, "messages")}
    return [{"date": d, "conversations": conv.get(d, 0), "messages": msgs.get(d, 0)} for d in sorted(set(conv) | set(msgs))]
