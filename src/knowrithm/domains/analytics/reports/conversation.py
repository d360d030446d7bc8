"""One conversation's report: messages, timing, ratings and sources."""
from __future__ import annotations

from sqlalchemy import Date, case, cast, func, select

from knowrithm.domains.conversations.models import Conversation, Message
from knowrithm.domains.leads.models import Lead
from knowrithm.infra.db import db, iso, sid
from knowrithm.infra.tenancy import get_or_404

from .common import pairs_of, round_or_zero


def conversation_report(conversation_id) -> dict:
    conv = get_or_404(Conversation, conversation_id, what="Conversation")
    msgs = select(Message).where(Message.conversation_id == conv.id).subquery()
    roles = pairs_of(select(msgs.c.role, func.count()).group_by(msgs.c.role))
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
        "lead_engagement": {"engaged_leads": 1 if lead else 0, "average_satisfaction": round_or_zero(conv.lead_satisfaction),
                            "total_conversions": 1 if lead and lead.status == "converted" else 0},
        "message_analytics": {"total_messages": stats[0], "average_processing_time": round_or_zero(stats[1], 3),
                              "average_confidence_score": round_or_zero(stats[2], 3), "average_rating": round_or_zero(stats[3], 3),
                              "rated_messages": stats[4], "total_tokens": int(stats[5] or 0),
                              "average_tokens_per_message": round_or_zero(stats[6]), "unanswered_questions": stats[7]},
        "message_roles": roles,
        "activity_timeline": [{"date": d.isoformat(), "messages": n} for d, n in timeline],
        "top_conversations": [{"id": sid(conv.id), "title": conv.title, "message_count": stats[0],
                               "last_activity": iso(conv.last_activity or conv.updated_at),
                               "lead_name": " ".join(filter(None, [lead.first_name, lead.last_name])) if lead else None,
                               "lead_email": lead.email if lead else None}],
    }
