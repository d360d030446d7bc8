"""The company dashboard: volumes, activity, top agents and uploaders, security signals."""
from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import Date, case, cast, func, select

from knowrithm.domains.agents.models import Agent
from knowrithm.domains.agents.service import counts_for
from knowrithm.domains.audit.models import AuditLog
from knowrithm.domains.auth.models import User
from knowrithm.domains.companies.models import Company
from knowrithm.domains.conversations.models import Conversation, Message
from knowrithm.domains.databases.models import DatabaseConnection, DatabaseTable
from knowrithm.domains.documents.models import Document
from knowrithm.domains.leads.models import Lead
from knowrithm.domains.websites.models import WebsitePage, WebsiteSource
from knowrithm.infra.db import db, iso, sid, utcnow

from .. import activity, support
from .common import UNKNOWN, activity_timeline, daily_counts, pairs_of, percent, round_or_zero, scalar_of


def dashboard(company_id: uuid.UUID, *, include_audit: bool = False) -> dict:
    """`include_audit`: the recent audit events (actors, emails in descriptions) are for admins only."""
    now = utcnow()
    since_30, since_90 = now - timedelta(days=30), now - timedelta(days=90)
    total_messages = scalar_of(select(func.count(Message.id)))
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
    processed = pairs_of(select(Document.status, func.count()).group_by(Document.status))
    total_docs = sum(processed.values())
    leads_total = scalar_of(select(func.count(Lead.id)))
    return {
        "core_metrics": {
            "scope": "company", "conversation_count": scalar_of(select(func.count(Conversation.id))),
            "document_count": total_docs, "lead_count": leads_total,
            "total_users": scalar_of(select(func.count()).select_from(users)),
            "connection_count": scalar_of(select(func.count(DatabaseConnection.id))),
            "agent_count": scalar_of(select(func.count(Agent.id))),
        },
        "conversation_analytics": {
            "conversation_status": pairs_of(select(Conversation.status, func.count()).group_by(Conversation.status)),
            "lead_engagement": {
                "engaged_leads": scalar_of(select(func.count(func.distinct(Conversation.entity_id)))
                                      .where(Conversation.entity_type == "lead")),
                "average_satisfaction": round_or_zero(scalar_of(select(func.avg(Conversation.lead_satisfaction)))),
                "total_conversions": scalar_of(select(func.count(Lead.id)).where(Lead.status == "converted")),
            },
            "message_analytics": {
                "total_messages": total_messages,
                "average_processing_time": round_or_zero(message_stats[0], 3),
                "average_confidence_score": round_or_zero(message_stats[1], 3),
                "average_rating": round_or_zero(message_stats[2], 3), "rated_messages": message_stats[3] or 0,
                "average_tokens_per_message": round_or_zero(message_stats[5]), "total_tokens": int(message_stats[4] or 0),
            },
            "message_roles": pairs_of(select(Message.role, func.count()).group_by(Message.role)),
            "activity_timeline": activity_timeline(since_30, now),
            "top_conversations": [
                {"id": sid(c.id), "title": c.title, "message_count": c.message_count,
                 "last_activity": iso(c.last_activity or c.updated_at),
                 "lead_name": " ".join(filter(None, [lead.first_name, lead.last_name])) if lead else None,
                 "lead_email": lead.email if lead else None} for c, lead in top_conversations],
        },
        "agent_analytics": {
            "agent_status_distribution": pairs_of(select(Agent.status, func.count()).group_by(Agent.status)),
            "top_performing_agents": _top_agents(),
        },
        "lead_analytics": {
            "consent_analytics": _consent(leads_total),
            "lead_status_distribution": pairs_of(select(Lead.status, func.count()).group_by(Lead.status)),
            "lead_sources": pairs_of(select(func.coalesce(Lead.source, UNKNOWN), func.count())
                                   .group_by(func.coalesce(Lead.source, UNKNOWN))),
            "daily_new_leads": daily_counts(Lead, Lead.created_at, since_30, now),
        },
        "document_analytics": {
            "storage_analytics": {
                "total_size_bytes": int(docs[0]), "total_size_mb": round_or_zero(int(docs[0]) / 1048576, 3),
                "average_size_mb": round_or_zero((docs[1] or 0) / 1048576, 3), "total_words": int(docs[2]),
                "average_words": round_or_zero(docs[3]), "largest_file_mb": round_or_zero((docs[4] or 0) / 1048576, 3),
            },
            "processing_status": processed,
            "document_types": pairs_of(select(Document.document_type, func.count()).group_by(Document.document_type)),
            "daily_uploads": daily_counts(Document, Document.created_at, since_30, now),
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
                "average_processing_time_seconds": round_or_zero(scalar_of(select(func.avg(
                    func.extract("epoch", Document.processed_at - Document.processing_started_at))))),
                "success_rate": percent(processed.get("processed", 0), total_docs),
                "failed_documents": processed.get("failed", 0),
            },
            "model_performance": [
                {"model": m, "message_count": n, "average_processing_time": round_or_zero(t, 3),
                 "average_confidence": round_or_zero(c, 3)}
                for m, n, t, c in db.session.execute(
                    select(Message.model_used, func.count(), func.avg(Message.processing_time),
                           func.avg(Message.confidence_score))
                    .where(Message.model_used.is_not(None)).group_by(Message.model_used)).all()],
        },
        "database_analytics": _database_analytics(),
        "website_analytics": {
            "sources": pairs_of(select(WebsiteSource.last_crawl_status, func.count())
                              .group_by(WebsiteSource.last_crawl_status)),
            "pages": pairs_of(select(WebsitePage.last_crawl_status, func.count()).group_by(WebsitePage.last_crawl_status)),
        },
        "security_analytics": _security(company_id, now, include_audit=include_audit),
        "user_management": {
            "active_users_24h": scalar_of(select(func.count(User.id)).where(
                User.company_id == company_id, User.last_login >= now - timedelta(hours=24))),
            "role_distribution": pairs_of(select(User.role, func.count()).where(User.company_id == company_id)
                                        .group_by(User.role)),
            "user_status_distribution": pairs_of(select(User.status, func.count()).where(User.company_id == company_id)
                                               .group_by(User.status)),
        },
        "unanswered_questions": _unanswered(),
        "support_metrics": support.support_metrics(since_30, now),
        "generated_at": now.isoformat(),
    }


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
    ratings = counts_for([a.id for a, *_ in rows])
    return [{"id": sid(a.id), "name": a.name, "status": a.status, "total_conversations": c, "total_messages": m,
             "average_rating": ratings[a.id]["rating"]} for a, c, m, _r in rows]


def _consent(total) -> dict:
    data, marketing = db.session.execute(select(
        func.count(case((Lead.consent_data_processing.is_(True), 1))),
        func.count(case((Lead.consent_marketing.is_(True), 1))))).one()
    return {"total_leads": total, "data_consent_rate": percent(data, total), "marketing_consent_rate": percent(marketing, total)}


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
        # Sessions of console users and widget visitors from the request logs (analytics.activity).
        "session_analytics": dict(zip(("total_sessions", "average_session_duration_minutes", "unique_ip_addresses"),
                                      activity.session_stats(company_id, since, utcnow()))),
        "login_timeline": [{"date": d.isoformat(), "unique_logins": n} for d, n in timeline],
    }


def _database_analytics() -> dict:
    active = scalar_of(select(func.count(DatabaseConnection.id)).where(DatabaseConnection.is_active.is_(True)))
    total = scalar_of(select(func.count(DatabaseConnection.id)))
    tables = db.session.execute(select(func.count(DatabaseTable.id), func.coalesce(func.sum(DatabaseTable.row_count), 0),
                                       func.coalesce(func.sum(DatabaseTable.table_size), 0))).one()
    recent = db.session.execute(select(DatabaseConnection).where(DatabaseConnection.last_tested.is_not(None))
                                .order_by(DatabaseConnection.last_tested.desc()).limit(5)).scalars()
    return {
        "connection_status": {"active": active, "inactive": total - active},
        "connection_types": pairs_of(select(DatabaseConnection.database_type, func.count())
                                   .group_by(DatabaseConnection.database_type)),
        "table_analytics": {"total_tables": tables[0], "total_rows": int(tables[1]), "total_size_bytes": int(tables[2])},
        "recent_tests": [{"connection_name": c.name, "database_type": c.database_type,
                          "status": "success" if c.is_active else "failed", "test_result": c.test_result,
                          "tested_at": iso(c.last_tested), "last_tested": iso(c.last_tested)} for c in recent],
    }


def _security(company_id, now, *, include_audit: bool) -> dict:
    risk = pairs_of(select(AuditLog.risk_level, func.count()).where(AuditLog.company_id == company_id,
                                                                  AuditLog.created_at >= now - timedelta(days=7))
                  .group_by(AuditLog.risk_level))
    recent = db.session.execute(select(AuditLog).where(AuditLog.company_id == company_id)
                                .order_by(AuditLog.created_at.desc()).limit(10)).scalars() if include_audit else []
    locked = scalar_of(select(func.count(User.id)).where(User.company_id == company_id, User.locked_until > now))
    return {
        "risk_distribution_7days": risk,
        "user_security_status": {
            "locked_users": locked,
            "verified_users": scalar_of(select(func.count(User.id)).where(User.company_id == company_id,
                                                                     User.email_verified.is_(True))),
            "two_factor_users": scalar_of(select(func.count(User.id)).where(User.company_id == company_id,
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
