"""Company analytics (CONTRACT §2.17): dashboard, agent, conversation, lead and usage reports.

Every figure is an aggregate over the caller's company: tenant-owned tables are scoped by
infra.tenancy; users, audit rows and request logs carry `company_id` without being
tenant-owned (platform users and platform events exist too), so they are filtered here.
"""
from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import Date, Float, case, cast, func, literal_column, select

from knowrithm.domains.admin.models import AuditLog
from knowrithm.domains.agents.models import Agent
from knowrithm.domains.auth.models import ApiKey, User
from knowrithm.domains.companies.models import Company
from knowrithm.domains.conversations.models import Conversation, Message
from knowrithm.domains.databases.models import DatabaseConnection, DatabaseTable
from knowrithm.domains.documents.models import Document
from knowrithm.domains.leads.models import Lead
from knowrithm.domains.websites.models import WebsitePage, WebsiteSource
from knowrithm.infra.db import db, iso, sid, utcnow
from knowrithm.infra.errors import ValidationFailed
from knowrithm.infra.tenancy import get_or_404

from .models import ApiRequestLog


UNKNOWN = literal_column("'unknown'")  # a literal, so GROUP BY matches the SELECT expression


def _one(stmt):
    return db.session.execute(stmt).scalar() or 0


def _pairs(stmt) -> dict:
    return {str(k): v for k, v in db.session.execute(stmt).all()}


def _round(value, digits=2):
    return round(float(value), digits) if value is not None else 0.0


def _pct(part, whole) -> float:
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


def _daily(model, column, start, end, label="count") -> list[dict]:
    day = cast(column, Date)
    rows = db.session.execute(select(day, func.count()).select_from(model)
                              .where(column >= start, column <= end).group_by(day).order_by(day)).all()
    return [{"date": d.isoformat(), label: n} for d, n in rows]


# --- Q1 dashboard ---------------------------------------------------------------------------

def dashboard(company_id: uuid.UUID) -> dict:
    now = utcnow()
    since_30, since_90 = now - timedelta(days=30), now - timedelta(days=90)
    total_messages = _one(select(func.count(Message.id)))
    message_stats = db.session.execute(select(
        func.avg(Message.processing_time), func.avg(Message.confidence_score), func.avg(Message.user_feedback),
        func.count(Message.user_feedback), func.sum(Message.tokens_used), func.avg(Message.tokens_used),
    )).one()
    users = select(User).where(User.company_id == company_id).subquery()
    company = db.session.get(Company, company_id)
    top_conversations = db.session.execute(
        select(Conversation, Lead).outerjoin(Lead, Lead.id == Conversation.entity_id)
        .order_by(Conversation.message_count.desc()).limit(5)).all()
    docs = db.session.execute(select(func.coalesce(func.sum(Document.file_size), 0), func.avg(Document.file_size),
                                     func.coalesce(func.sum(Document.word_count), 0), func.avg(Document.word_count),
                                     func.max(Document.file_size))).one()
    processed = _pairs(select(Document.status, func.count()).group_by(Document.status))
    total_docs = sum(processed.values())
    leads_total = _one(select(func.count(Lead.id)))
    return {
        "core_metrics": {
            "scope": "company", "conversation_count": _one(select(func.count(Conversation.id))),
            "document_count": total_docs, "lead_count": leads_total,
            "total_users": _one(select(func.count()).select_from(users)),
            "connection_count": _one(select(func.count(DatabaseConnection.id))),
            "agent_count": _one(select(func.count(Agent.id))),
        },
        "conversation_analytics": {
            "conversation_status": _pairs(select(Conversation.status, func.count()).group_by(Conversation.status)),
            "lead_engagement": {
                "engaged_leads": _one(select(func.count(func.distinct(Conversation.entity_id)))
                                      .where(Conversation.entity_type == "lead")),
                "average_satisfaction": _round(_one(select(func.avg(Conversation.lead_satisfaction)))),
                "total_conversions": _one(select(func.count(Lead.id)).where(Lead.status == "converted")),
            },
            "message_analytics": {
                "total_messages": total_messages,
                "average_processing_time": _round(message_stats[0], 3),
                "average_confidence_score": _round(message_stats[1], 3),
                "average_rating": _round(message_stats[2], 3), "rated_messages": message_stats[3] or 0,
                "average_tokens_per_message": _round(message_stats[5]), "total_tokens": int(message_stats[4] or 0),
            },
            "message_roles": _pairs(select(Message.role, func.count()).group_by(Message.role)),
            "activity_timeline": _activity(since_30, now),
            "top_conversations": [
                {"id": sid(c.id), "title": c.title, "message_count": c.message_count,
                 "last_activity": iso(c.last_activity or c.updated_at),
                 "lead_name": " ".join(filter(None, [lead.first_name, lead.last_name])) if lead else None,
                 "lead_email": lead.email if lead else None} for c, lead in top_conversations],
        },
        "agent_analytics": {
            "agent_status_distribution": _pairs(select(Agent.status, func.count()).group_by(Agent.status)),
            "top_performing_agents": _top_agents(),
        },
        "lead_analytics": {
            "consent_analytics": _consent(leads_total),
            "lead_status_distribution": _pairs(select(Lead.status, func.count()).group_by(Lead.status)),
            "lead_sources": _pairs(select(func.coalesce(Lead.source, UNKNOWN), func.count())
                                   .group_by(func.coalesce(Lead.source, UNKNOWN))),
            "daily_new_leads": _daily(Lead, Lead.created_at, since_30, now),
        },
        "document_analytics": {
            "storage_analytics": {
                "total_size_bytes": int(docs[0]), "total_size_mb": _round(int(docs[0]) / 1048576, 3),
                "average_size_mb": _round((docs[1] or 0) / 1048576, 3), "total_words": int(docs[2]),
                "average_words": _round(docs[3]), "largest_file_mb": _round((docs[4] or 0) / 1048576, 3),
            },
            "processing_status": processed,
            "document_types": _pairs(select(Document.document_type, func.count()).group_by(Document.document_type)),
            "daily_uploads": _daily(Document, Document.created_at, since_30, now),
            "top_users_by_documents": _top_uploaders(),
        },
        "activity_analytics": _activity_analytics(company_id, since_30),
        "company_analytics": {
            "company_info": {"id": sid(company.id), "name": company.name, "email": company.email,
                             "created_at": iso(company.created_at)} if company else None,
            "user_growth_90days": [{"date": d, "new_users": n} for d, n in db.session.execute(
                select(cast(User.created_at, Date), func.count()).where(User.company_id == company_id,
                                                                        User.created_at >= since_90)
                .group_by(cast(User.created_at, Date)).order_by(cast(User.created_at, Date))).all()],
        },
        "performance_analytics": {
            "document_processing": {
                "average_processing_time_seconds": _round(_one(select(func.avg(
                    func.extract("epoch", Document.processed_at - Document.processing_started_at))))),
                "success_rate": _pct(processed.get("processed", 0), total_docs),
                "failed_documents": processed.get("failed", 0),
            },
            "model_performance": [
                {"model": m, "message_count": n, "average_processing_time": _round(t, 3),
                 "average_confidence": _round(c, 3)}
                for m, n, t, c in db.session.execute(
                    select(Message.model_used, func.count(), func.avg(Message.processing_time),
                           func.avg(Message.confidence_score))
                    .where(Message.model_used.is_not(None)).group_by(Message.model_used)).all()],
        },
        "database_analytics": _database_analytics(),
        "website_analytics": {
            "sources": _pairs(select(WebsiteSource.last_crawl_status, func.count())
                              .group_by(WebsiteSource.last_crawl_status)),
            "pages": _pairs(select(WebsitePage.last_crawl_status, func.count()).group_by(WebsitePage.last_crawl_status)),
        },
        "security_analytics": _security(company_id, now),
        "user_management": {
            "active_users_24h": _one(select(func.count(User.id)).where(
                User.company_id == company_id, User.last_login >= now - timedelta(hours=24))),
            "role_distribution": _pairs(select(User.role, func.count()).where(User.company_id == company_id)
                                        .group_by(User.role)),
            "user_status_distribution": _pairs(select(User.status, func.count()).where(User.company_id == company_id)
                                               .group_by(User.status)),
        },
        "unanswered_questions": _unanswered(),
        "generated_at": now.isoformat(),
    }


def _activity(start, end) -> list[dict]:
    conv = {row["date"]: row["conversations"] for row in
            _daily(Conversation, Conversation.created_at, start, end, "conversations")}
    msgs = {row["date"]: row["messages"] for row in _daily(Message, Message.created_at, start, end, "messages")}
    return [{"date": d, "conversations": conv.get(d, 0), "messages": msgs.get(d, 0)} for d in sorted(set(conv) | set(msgs))]


def _top_agents() -> list[dict]:
    conversations = (select(Conversation.agent_id, func.count(Conversation.id).label("n"))
                     .group_by(Conversation.agent_id).subquery())
    messages = (select(Message.agent_id, func.count(Message.id).label("n"), func.avg(Message.user_feedback).label("r"))
                .group_by(Message.agent_id).subquery())
    rows = db.session.execute(
        select(Agent, func.coalesce(conversations.c.n, 0), func.coalesce(messages.c.n, 0), messages.c.r)
        .outerjoin(conversations, conversations.c.agent_id == Agent.id)
        .outerjoin(messages, messages.c.agent_id == Agent.id)
        .order_by(func.coalesce(conversations.c.n, 0).desc()).limit(5)).all()
    return [{"id": sid(a.id), "name": a.name, "status": a.status, "total_conversations": c, "total_messages": m,
             "average_rating": _round(r, 3)} for a, c, m, r in rows]


def _consent(total) -> dict:
    data, marketing = db.session.execute(select(
        func.count(case((Lead.consent_data_processing.is_(True), 1))),
        func.count(case((Lead.consent_marketing.is_(True), 1))))).one()
    return {"total_leads": total, "data_consent_rate": _pct(data, total), "marketing_consent_rate": _pct(marketing, total)}


def _top_uploaders() -> list[dict]:
    rows = db.session.execute(select(User.first_name, User.last_name, User.username, func.count(Document.id))
                              .join(User, User.id == Document.user_id)
                              .group_by(User.id, User.first_name, User.last_name, User.username)
                              .order_by(func.count(Document.id).desc()).limit(5)).all()
    return [{"full_name": " ".join(filter(None, [f, last])), "username": u, "document_count": n}
            for f, last, u, n in rows]


def _activity_analytics(company_id, since) -> dict:
    logins = (select(AuditLog).where(AuditLog.company_id == company_id, AuditLog.created_at >= since,
                                     AuditLog.event_type.in_(("auth.login", "auth.login_success"))).subquery())
    day = cast(logins.c.created_at, Date)
    timeline = db.session.execute(select(day, func.count(func.distinct(logins.c.user_id))).group_by(day)
                                  .order_by(day)).all()
    return {
        "session_analytics": {
            "total_sessions": _one(select(func.count()).select_from(logins)),
            "unique_ip_addresses": _one(select(func.count(func.distinct(logins.c.ip_address)))),
            "average_session_duration_minutes": 0.0,
        },
        "login_timeline": [{"date": d.isoformat(), "unique_logins": n} for d, n in timeline],
    }


def _database_analytics() -> dict:
    active = _one(select(func.count(DatabaseConnection.id)).where(DatabaseConnection.is_active.is_(True)))
    total = _one(select(func.count(DatabaseConnection.id)))
    tables = db.session.execute(select(func.count(DatabaseTable.id), func.coalesce(func.sum(DatabaseTable.row_count), 0),
                                       func.coalesce(func.sum(DatabaseTable.table_size), 0))).one()
    recent = db.session.execute(select(DatabaseConnection).where(DatabaseConnection.last_tested.is_not(None))
                                .order_by(DatabaseConnection.last_tested.desc()).limit(5)).scalars()
    return {
        "connection_status": {"active": active, "inactive": total - active},
        "connection_types": _pairs(select(DatabaseConnection.database_type, func.count())
                                   .group_by(DatabaseConnection.database_type)),
        "table_analytics": {"total_tables": tables[0], "total_rows": int(tables[1]), "total_size_bytes": int(tables[2])},
        "recent_tests": [{"connection_name": c.name, "database_type": c.database_type,
                          "status": "success" if c.is_active else "failed", "test_result": c.test_result,
                          "tested_at": iso(c.last_tested), "last_tested": iso(c.last_tested)} for c in recent],
    }


def _security(company_id, now) -> dict:
    risk = _pairs(select(AuditLog.risk_level, func.count()).where(AuditLog.company_id == company_id,
                                                                  AuditLog.created_at >= now - timedelta(days=7))
                  .group_by(AuditLog.risk_level))
    recent = db.session.execute(select(AuditLog).where(AuditLog.company_id == company_id)
                                .order_by(AuditLog.created_at.desc()).limit(10)).scalars()
    locked = _one(select(func.count(User.id)).where(User.company_id == company_id, User.locked_until > now))
    return {
        "risk_distribution_7days": risk,
        "user_security_status": {
            "locked_users": locked,
            "verified_users": _one(select(func.count(User.id)).where(User.company_id == company_id,
                                                                     User.email_verified.is_(True))),
            "two_factor_users": _one(select(func.count(User.id)).where(User.company_id == company_id,
                                                                       User.two_factor_enabled.is_(True))),
        },
        "recent_audit_events": [{"timestamp": iso(a.created_at), "event": a.event_type, "actor": sid(a.user_id),
                                 "risk_level": a.risk_level, "description": a.description} for a in recent],
    }


def _unanswered(limit: int = 10) -> list[dict]:
    """Questions the agents had no knowledge for: the list of what to document next."""
    asked = (select(Message.reply_to_id).where(Message.role == "assistant", Message.answered.is_(False))
             .where(Message.reply_to_id.is_not(None)))
    rows = db.session.execute(select(Message.content, func.count()).where(Message.id.in_(asked))
                              .group_by(Message.content).order_by(func.count().desc()).limit(limit)).all()
    return [{"question": q, "count": n} for q, n in rows]


# --- Q2/Q3 agents ---------------------------------------------------------------------------------

def agent_report(agent_id, start: datetime, end: datetime) -> dict:
    agent = get_or_404(Agent, agent_id, what="Agent")
    convs = select(Conversation).where(Conversation.agent_id == agent.id, Conversation.created_at.between(start, end))
    total_conv = _one(select(func.count()).select_from(convs.subquery()))
    active_conv = _one(select(func.count()).select_from(convs.where(Conversation.status == "active").subquery()))
    msgs = select(Message).where(Message.agent_id == agent.id, Message.created_at.between(start, end)).subquery()
    roles = _pairs(select(msgs.c.role, func.count()).group_by(msgs.c.role))
    times = db.session.execute(select(func.avg(msgs.c.processing_time), func.min(msgs.c.processing_time),
                                      func.max(msgs.c.processing_time), func.avg(msgs.c.user_feedback),
                                      func.count(msgs.c.user_feedback), func.sum(msgs.c.tokens_used),
                                      func.avg(msgs.c.tokens_used)).where(msgs.c.role == "assistant")).one()
    total_msgs = sum(roles.values())
    leads = select(Lead).where(Lead.agent_id == agent.id).subquery()
    statuses = _pairs(select(leads.c.status, func.count()).group_by(leads.c.status))
    total_leads = sum(statuses.values())
    satisfaction = _one(select(func.avg(Conversation.lead_satisfaction)).where(Conversation.agent_id == agent.id))
    settings_model = None
    if agent.llm_settings_id:
        from knowrithm.domains.llm.models import LLMSettings

        settings = db.session.get(LLMSettings, agent.llm_settings_id)
        settings_model = settings.llm_model.name if settings and settings.llm_model else None
    return {
        "agent_info": {"id": sid(agent.id), "name": agent.name, "status": agent.status, "model_name": settings_model},
        "date_range": {"start_date": start.isoformat(), "end_date": end.isoformat()},
        "conversation_metrics": {"total_conversations": total_conv, "active_conversations": active_conv,
                                 "avg_messages_per_conversation": _round(total_msgs / total_conv if total_conv else 0)},
        "message_metrics": {"total_messages": total_msgs, "user_messages": roles.get("user", 0),
                            "assistant_messages": roles.get("assistant", 0)},
        "performance_metrics": {"avg_response_time_seconds": _round(times[0], 3),
                                "min_response_time_seconds": _round(times[1], 3),
                                "max_response_time_seconds": _round(times[2], 3)},
        "quality_metrics": {"avg_satisfaction_rating": _round(satisfaction),
                            "satisfaction_response_rate_percent": _pct(times[4] or 0, roles.get("assistant", 0)),
                            "avg_message_feedback": _round(times[3], 3), "current_agent_rating": _round(times[3], 3)},
        "conversion_metrics": {"total_qualified": statuses.get("qualified", 0),
                               "total_converted": statuses.get("converted", 0), "total_lost": statuses.get("lost", 0),
                               "conversion_rate_percent": _pct(statuses.get("converted", 0), total_leads)},
        "token_usage": {"total_tokens": int(times[5] or 0), "avg_tokens_per_message": _round(times[6])},
        "activity_trend": _activity_for_agent(agent.id, start, end),
        "top_sources": _top_sources(agent.id, start, end),
    }


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
        comparison[key] = {"agent_value": value, "company_average": _round(average, 3),
                           "performance_vs_average_percent": _round((value - average) / average * 100) if average else 0.0}
    return {"agent_info": mine["agent_info"], "date_range": mine["date_range"], "performance_comparison": comparison}


# --- Q4 conversation ------------------------------------------------------------------------------

def conversation_report(conversation_id) -> dict:
    conv = get_or_404(Conversation, conversation_id, what="Conversation")
    msgs = select(Message).where(Message.conversation_id == conv.id).subquery()
    roles = _pairs(select(msgs.c.role, func.count()).group_by(msgs.c.role))
    stats = db.session.execute(select(func.count(), func.avg(msgs.c.processing_time), func.avg(msgs.c.confidence_score),
                                      func.avg(msgs.c.user_feedback), func.count(msgs.c.user_feedback),
                                      func.sum(msgs.c.tokens_used), func.avg(msgs.c.tokens_used),
                                      func.count(case((msgs.c.answered.is_(False), 1))))).one()
    day = cast(msgs.c.created_at, Date)
    timeline = db.session.execute(select(day, func.count()).group_by(day).order_by(day)).all()
    lead = db.session.get(Lead, conv.entity_id) if conv.entity_type == "lead" and conv.entity_id else None
    return {
        "conversation_id": sid(conv.id),
        "conversation_status": {conv.status: 1},
        "lead_engagement": {"engaged_leads": 1 if lead else 0, "average_satisfaction": _round(conv.lead_satisfaction),
                            "total_conversions": 1 if lead and lead.status == "converted" else 0},
        "message_analytics": {"total_messages": stats[0], "average_processing_time": _round(stats[1], 3),
                              "average_confidence_score": _round(stats[2], 3), "average_rating": _round(stats[3], 3),
                              "rated_messages": stats[4], "total_tokens": int(stats[5] or 0),
                              "average_tokens_per_message": _round(stats[6]), "unanswered_questions": stats[7]},
        "message_roles": roles,
        "activity_timeline": [{"date": d.isoformat(), "messages": n} for d, n in timeline],
        "top_conversations": [{"id": sid(conv.id), "title": conv.title, "message_count": stats[0],
                               "last_activity": iso(conv.last_activity or conv.updated_at),
                               "lead_name": " ".join(filter(None, [lead.first_name, lead.last_name])) if lead else None,
                               "lead_email": lead.email if lead else None}],
    }


# --- Q5 leads -------------------------------------------------------------------------------------

def lead_report(start: datetime, end: datetime) -> dict:
    leads = select(Lead).where(Lead.created_at.between(start, end)).subquery()
    statuses = _pairs(select(leads.c.status, func.count()).group_by(leads.c.status))
    total = sum(statuses.values())
    sources = db.session.execute(select(func.coalesce(leads.c.source, UNKNOWN), func.count(),
                                        func.count(case((leads.c.status == "converted", 1))))
                                 .group_by(func.coalesce(leads.c.source, UNKNOWN))).all()
    consent = db.session.execute(select(func.count(case((leads.c.consent_data_processing.is_(True), 1))),
                                        func.count(case((leads.c.consent_marketing.is_(True), 1))),
                                        func.count(case((leads.c.phone.is_not(None), 1))))).one()
    conv = (select(Conversation).where(Conversation.entity_type == "lead",
                                       Conversation.entity_id.in_(select(leads.c.id))).subquery())
    engagement = db.session.execute(select(func.count(), func.count(func.distinct(conv.c.entity_id)),
                                           func.avg(conv.c.message_count), func.avg(conv.c.lead_satisfaction))).one()
    day = cast(leads.c.created_at, Date)
    daily = db.session.execute(select(day, func.count(), func.count(case((leads.c.status == "converted", 1))))
                               .group_by(day).order_by(day)).all()
    contacted = sum(statuses.get(s, 0) for s in ("contacted", "qualified", "converted", "lost"))
    qualified = sum(statuses.get(s, 0) for s in ("qualified", "converted"))
    converted = statuses.get("converted", 0)
    return {
        "date_range": {"start_date": start.isoformat(), "end_date": end.isoformat()},
        "lead_summary": {"total_leads": total, "qualified_leads": statuses.get("qualified", 0),
                         "contacted_leads": statuses.get("contacted", 0), "converted_leads": converted,
                         "lost_leads": statuses.get("lost", 0), "new_leads": statuses.get("new", 0)},
        "lead_status_distribution": statuses,
        "status_distribution": [{"status": s, "count": n} for s, n in statuses.items()],
        "lead_sources": {s: n for s, n, _ in sources},
        "source_analysis": [{"source": s, "count": n} for s, n, _ in sources],
        "top_performing_sources": sorted(
            [{"source": s, "total_leads": n, "conversions": c, "conversion_rate_percent": _pct(c, n)}
             for s, n, c in sources], key=lambda r: r["conversion_rate_percent"], reverse=True),
        "consent_analytics": {"total_leads": total, "data_consent_rate": _pct(consent[0], total),
                              "marketing_consent_rate": _pct(consent[1], total)},
        "lead_quality": {"marketing_consent_rate_percent": _pct(consent[1], total),
                         "phone_completion_rate_percent": _pct(consent[2], total), "avg_engagement_days": 0.0},
        "conversation_engagement": {"total_conversations": engagement[0], "leads_with_conversations": engagement[1],
                                    "avg_messages_per_conversation": _round(engagement[2]),
                                    "avg_satisfaction": _round(engagement[3])},
        "conversion_funnel": {"contact_rate_percent": _pct(contacted, total),
                              "qualification_rate_percent": _pct(qualified, contacted),
                              "conversion_rate_percent": _pct(converted, qualified),
                              "overall_conversion_rate_percent": _pct(converted, total)},
        "daily_new_leads": [{"date": d.isoformat(), "count": n} for d, n, _ in daily],
        "daily_trend": [{"date": d.isoformat(), "lead_count": n, "conversions": c, "daily_conversion_rate": _pct(c, n)}
                        for d, n, c in daily],
    }


# --- Q6 usage -------------------------------------------------------------------------------------

def usage_report(company_id, start: datetime, end: datetime) -> dict:
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
    ratings = _one(select(cast(func.avg(Message.user_feedback), Float)))
    return {
        "date_range": {"start_date": start.isoformat(), "end_date": end.isoformat()},
        "agent_usage": {"active_agents": _one(select(func.count(Agent.id)).where(Agent.status == "active")),
                        "total_agents": _one(select(func.count(Agent.id))),
                        "total_conversations": _one(select(func.count(Conversation.id))
                                                    .where(Conversation.created_at.between(start, end))),
                        "total_messages": msgs[0], "avg_agent_rating": _round(ratings, 3)},
        "api_usage": {"total_api_calls": calls, "success_count": calls - errors, "error_count": errors,
                      "error_rate_percent": _pct(errors, calls),
                      "active_api_keys": _one(select(func.count(ApiKey.id)).where(ApiKey.status == "active")),
                      "avg_response_time_ms": _round(avg_ms)},
        "storage_usage": {"total_conversations": _one(select(func.count(Conversation.id))),
                          "total_messages": _one(select(func.count(Message.id))),
                          "total_content_size_bytes": int(msgs[3])},
        "token_usage": {"total_tokens": int(msgs[1]), "total_messages_processed": msgs[0],
                        "avg_tokens_per_message": _round(msgs[2])},
        "endpoint_usage": [{"method": m, "endpoint": e, "call_count": n, "avg_response_time_ms": _round(t)}
                           for m, e, n, t in endpoints],
        "top_client_ips": [],
        "daily_usage_trend": [{"date": d.isoformat(), "api_calls": n, "errors": e,
                               "success_rate_percent": _pct(n - e, n)} for d, n, e in daily],
    }


# --- Q7 export ------------------------------------------------------------------------------------

EXPORT_TYPES = ("conversations", "leads", "agents", "usage")


def export(company_id, *, export_type: str, export_format: str, start: datetime, end: datetime) -> tuple[dict | str, int]:
    if export_type not in EXPORT_TYPES:
        raise ValidationFailed("Unknown export type", details={"type": [f"one of: {', '.join(EXPORT_TYPES)}"]})
    if export_format not in ("json", "csv"):
        raise ValidationFailed("Unknown export format", details={"format": ["one of: json, csv"]})
    if export_type == "conversations":
        rows = [{"id": sid(c.id), "agent_id": sid(c.agent_id), "title": c.title, "status": c.status,
                 "entity_type": c.entity_type, "entity_id": sid(c.entity_id), "message_count": c.message_count,
                 "total_tokens": c.total_tokens, "created_at": iso(c.created_at), "last_activity": iso(c.last_activity)}
                for c in db.session.execute(select(Conversation).where(Conversation.created_at.between(start, end))
                                            .order_by(Conversation.created_at)).scalars()]
        key = "conversations"
    elif export_type == "leads":
        rows = [{"id": sid(lead.id), "first_name": lead.first_name, "last_name": lead.last_name, "email": lead.email,
                 "phone": lead.phone, "source": lead.source, "status": lead.status,
                 "consent_marketing": lead.consent_marketing, "created_at": iso(lead.created_at)}
                for lead in db.session.execute(select(Lead).where(Lead.created_at.between(start, end))
                                               .order_by(Lead.created_at)).scalars()]
        key = "leads"
    elif export_type == "agents":
        rows = [{"id": sid(a.id), "name": a.name, "status": a.status, "description": a.description,
                 "created_at": iso(a.created_at)} for a in db.session.execute(select(Agent).order_by(Agent.created_at)).scalars()]
        key = "agents"
    else:
        rows = [{"id": sid(r.id), "endpoint": r.endpoint, "method": r.method, "status_code": r.status_code,
                 "response_time_ms": r.response_time_ms, "ip_address": None, "created_at": iso(r.created_at)}
                for r in db.session.execute(select(ApiRequestLog).where(ApiRequestLog.company_id == company_id,
                                                                        ApiRequestLog.created_at.between(start, end))
                                            .order_by(ApiRequestLog.created_at)).scalars()]
        key = "usage_logs"
    if export_format == "csv":
        buffer = io.StringIO()
        fields = list(rows[0]) if rows else ["id"]
        writer = csv.DictWriter(buffer, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue(), len(rows)
    return {"metadata": {"company_id": sid(company_id), "export_type": export_type, "format": "json",
                         "exported_at": utcnow().isoformat(),
                         "date_range": {"start_date": start.isoformat(), "end_date": end.isoformat()}},
            "count": len(rows), key: rows}, len(rows)


# --- S1 metric collection -----------------------------------------------------------------------

def collect_metrics(company_id) -> dict:
    """A point-in-time snapshot of the company's volumes (also what D4 system metrics read)."""
    now = utcnow()
    return {"collected_at": now.isoformat(), "company_id": sid(company_id), "metrics": {
        "agents": _one(select(func.count(Agent.id))),
        "documents": _one(select(func.count(Document.id))),
        "documents_failed": _one(select(func.count(Document.id)).where(Document.status == "failed")),
        "conversations": _one(select(func.count(Conversation.id))),
        "messages_24h": _one(select(func.count(Message.id)).where(Message.created_at >= now - timedelta(hours=24))),
        "leads": _one(select(func.count(Lead.id))),
        "database_connections": _one(select(func.count(DatabaseConnection.id))),
    }}
