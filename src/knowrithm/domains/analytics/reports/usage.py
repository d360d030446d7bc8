"""API usage over a period, from the per-key request log."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Date, case, cast, func, select

from knowrithm.domains.agents.models import Agent
from knowrithm.domains.agents.service import feedback_rating
from knowrithm.domains.auth.models import ApiKey
from knowrithm.domains.auth.request_log import flush
from knowrithm.domains.conversations.models import Conversation, Message
from knowrithm.infra.db import db

from .. import activity
from ..models import ApiRequestLog
from .common import activity_timeline, percent, round_or_zero, scalar_of


def usage_report(company_id, start: datetime, end: datetime) -> dict:
    flush()  # include requests still in the buffer
    logs = (select(ApiRequestLog).where(ApiRequestLog.company_id == company_id,
                                        ApiRequestLog.created_at.between(start, end)).subquery())
    calls, errors, avg_ms = db.session.execute(select(func.count(), func.count(case((logs.c.status_code >= 400, 1))),
                                                      func.avg(logs.c.response_time_ms))).one()
    msgs = db.session.execute(select(func.count(Message.id), func.coalesce(func.sum(Message.tokens_used), 0),
                                     func.avg(Message.tokens_used), func.coalesce(func.sum(func.length(Message.content)), 0))
                              .where(Message.created_at.between(start, end))).one()
    endpoints = db.session.execute(select(logs.c.method, logs.c.endpoint, func.count(), func.avg(logs.c.response_time_ms))
                                   .group_by(logs.c.method, logs.c.endpoint).order_by(func.count().desc()).limit(10)).all()
    day = cast(logs.c.created_at, Date)
    daily = db.session.execute(select(day, func.count(), func.count(case((logs.c.status_code >= 400, 1))))
                               .group_by(day).order_by(day)).all()
    ratings = _company_rating(start, end)
    return {
        "date_range": {"start_date": start.isoformat(), "end_date": end.isoformat()},
        "activity_timeline": activity_timeline(start, end),
        "agent_usage": {"active_agents": scalar_of(select(func.count(Agent.id)).where(Agent.status == "active")),
                        "total_agents": scalar_of(select(func.count(Agent.id))),
                        "total_conversations": scalar_of(select(func.count(Conversation.id))
                                                    .where(Conversation.created_at.between(start, end))),
                        "total_messages": msgs[0], "avg_agent_rating": round_or_zero(ratings, 3)},
        "api_usage": {"total_api_calls": calls, "success_count": calls - errors, "error_count": errors,
                      "error_rate_percent": percent(errors, calls),
                      "active_api_keys": scalar_of(select(func.count(ApiKey.id)).where(ApiKey.status == "active")),
                      "avg_response_time_ms": round_or_zero(avg_ms)},
        "storage_usage": {"total_conversations": scalar_of(select(func.count(Conversation.id))),
                          "total_messages": scalar_of(select(func.count(Message.id))),
                          "total_content_size_bytes": int(msgs[3])},
        "token_usage": {"total_tokens": int(msgs[1]), "total_messages_processed": msgs[0],
                        "avg_tokens_per_message": round_or_zero(msgs[2])},
        "endpoint_usage": [{"method": m, "endpoint": e, "call_count": n, "avg_response_time_ms": round_or_zero(t)}
                           for m, e, n, t in endpoints],
        "top_client_ips": activity.top_client_ips(company_id, start, end),
        "daily_usage_trend": [{"date": d.isoformat(), "api_calls": n, "errors": e,
                               "success_rate_percent": percent(n - e, n)} for d, n, e in daily],
    }


def _company_rating(start, end) -> float:
    """The agents' rating over the range, on the 1-5 scale of agents.service.feedback_rating."""
    stars, rated = db.session.execute(select(func.coalesce(func.sum(Conversation.lead_satisfaction), 0),
                                             func.count(Conversation.lead_satisfaction))
                                      .where(Conversation.created_at.between(start, end))).one()
    liked, thumbs = db.session.execute(select(func.count(case((Message.user_feedback > 0, 1))),
                                              func.count(Message.user_feedback))
                                       .where(Message.created_at.between(start, end))).one()
    return feedback_rating(float(stars), rated, liked=liked, thumbs=thumbs)
