"""One agent's report over a period, and its comparison with the company's other agents."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Date, cast, func, select

from knowrithm.domains.agents.models import Agent
from knowrithm.domains.agents.service import counts_for
from knowrithm.domains.conversations.models import Conversation, Message
from knowrithm.domains.leads.models import Lead
from knowrithm.domains.llm.models import LLMSettings
from knowrithm.infra.db import db, sid
from knowrithm.infra.tenancy import get_or_404

from .common import pairs_of, percent, round_or_zero, scalar_of


def agent_report(agent_id, start: datetime, end: datetime) -> dict:
    agent = get_or_404(Agent, agent_id, what="Agent")
    convs = select(Conversation).where(Conversation.agent_id == agent.id, Conversation.created_at.between(start, end))
    total_conv = scalar_of(select(func.count()).select_from(convs.subquery()))
    active_conv = scalar_of(select(func.count()).select_from(convs.where(Conversation.status == "active").subquery()))
    msgs = select(Message).where(Message.agent_id == agent.id, Message.created_at.between(start, end)).subquery()
    roles = pairs_of(select(msgs.c.role, func.count()).group_by(msgs.c.role))
    times = db.session.execute(select(func.avg(msgs.c.processing_time), func.min(msgs.c.processing_time),
                                      func.max(msgs.c.processing_time), func.avg(msgs.c.user_feedback),
                                      func.count(msgs.c.user_feedback), func.sum(msgs.c.tokens_used),
                                      func.avg(msgs.c.tokens_used)).where(msgs.c.role == "assistant")).one()
    total_msgs = sum(roles.values())
    leads = select(Lead).where(Lead.agent_id == agent.id).subquery()
    statuses = pairs_of(select(leads.c.status, func.count()).group_by(leads.c.status))
    total_leads = sum(statuses.values())
    satisfaction = scalar_of(select(func.avg(Conversation.lead_satisfaction)).where(Conversation.agent_id == agent.id))
    settings_model = None
    if agent.llm_settings_id:
        settings = db.session.get(LLMSettings, agent.llm_settings_id)
        settings_model = settings.llm_model.name if settings and settings.llm_model else None
    return {
        "agent_info": {"id": sid(agent.id), "name": agent.name, "status": agent.status, "model_name": settings_model},
        "date_range": {"start_date": start.isoformat(), "end_date": end.isoformat()},
        "conversation_metrics": {"total_conversations": total_conv, "active_conversations": active_conv,
                                 "avg_messages_per_conversation": round_or_zero(total_msgs / total_conv if total_conv else 0)},
        "message_metrics": {"total_messages": total_msgs, "user_messages": roles.get("user", 0),
                            "assistant_messages": roles.get("assistant", 0)},
        "performance_metrics": {"avg_response_time_seconds": round_or_zero(times[0], 3),
                                "min_response_time_seconds": round_or_zero(times[1], 3),
                                "max_response_time_seconds": round_or_zero(times[2], 3)},
        "quality_metrics": {"avg_satisfaction_rating": round_or_zero(satisfaction),
                            "satisfaction_response_rate_percent": percent(times[4] or 0, roles.get("assistant", 0)),
                            "avg_message_feedback": round_or_zero(times[3], 3),
                            "current_agent_rating": _agent_rating(agent.id)},
        "conversion_metrics": {"total_qualified": statuses.get("qualified", 0),
                               "total_converted": statuses.get("converted", 0), "total_lost": statuses.get("lost", 0),
                               "conversion_rate_percent": percent(statuses.get("converted", 0), total_leads)},
        "token_usage": {"total_tokens": int(times[5] or 0), "avg_tokens_per_message": round_or_zero(times[6])},
        "activity_trend": _activity_for_agent(agent.id, start, end),
        "top_sources": _top_sources(agent.id, start, end),
    }


def _agent_rating(agent_id) -> float:
    return counts_for([agent_id])[agent_id]["rating"]


def _activity_for_agent(agent_id, start, end) -> list[dict]:
    day = cast(Message.created_at, Date)
    rows = db.session.execute(select(day, func.count(func.distinct(Message.conversation_id)), func.count())
                              .where(Message.agent_id == agent_id, Message.created_at.between(start, end))
                              .group_by(day).order_by(day)).all()
    return [{"date": d.isoformat(), "conversations": c, "messages": m} for d, c, m in rows]


def _top_sources(agent_id, start, end) -> list[dict]:
    counts: dict[str, set] = {}
    rows = db.session.execute(select(Message.sources, Message.conversation_id)
                              .where(Message.agent_id == agent_id, Message.role == "assistant",
                                     Message.created_at.between(start, end))).all()
    for sources, conversation_id in rows:
        for source in sources or []:
            name = source.get("document_name") or source.get("url") or "unknown"
            counts.setdefault(name, set()).add(conversation_id)
    ranked = sorted(counts.items(), key=lambda kv: len(kv[1]), reverse=True)[:10]
    return [{"source": name, "conversation_count": len(ids)} for name, ids in ranked]


def agent_comparison(agent_id, start: datetime, end: datetime) -> dict:
    mine = agent_report(agent_id, start, end)
    others = [a for a in db.session.execute(select(Agent.id)).scalars()]
    reports = [agent_report(a, start, end) for a in others]

    def metric(report, key):
        return {
            "conversations": report["conversation_metrics"]["total_conversations"],
            "conversions": report["conversion_metrics"]["total_converted"],
            "response_time": report["performance_metrics"]["avg_response_time_seconds"],
            "satisfaction_rating": report["quality_metrics"]["avg_satisfaction_rating"],
            "total_messages": report["message_metrics"]["total_messages"],
        }[key]

    comparison = {}
    for key in ("conversations", "conversions", "response_time", "satisfaction_rating", "total_messages"):
        value = metric(mine, key)
        average = sum(metric(r, key) for r in reports) / len(reports) if reports else 0
        comparison[key] = {"agent_value": value, "company_average": round_or_zero(average, 3),
                           "performance_vs_average_percent": round_or_zero((value - average) / average * 100) if average else 0.0}
    return {"agent_info": mine["agent_info"], "date_range": mine["date_range"], "performance_comparison": comparison}
