"""The leads report over a period: volumes, sources, statuses and conversion."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Date, case, cast, func, select

from knowrithm.domains.conversations.models import Conversation
from knowrithm.domains.leads.models import Lead
from knowrithm.infra.db import db

from .. import activity
from .common import UNKNOWN, pairs_of, percent, round_or_zero


def lead_report(start: datetime, end: datetime) -> dict:
    leads = select(Lead).where(Lead.created_at.between(start, end)).subquery()
    statuses = pairs_of(select(leads.c.status, func.count()).group_by(leads.c.status))
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
            [{"source": s, "total_leads": n, "conversions": c, "conversion_rate_percent": percent(c, n)}
             for s, n, c in sources], key=lambda r: r["conversion_rate_percent"], reverse=True),
        "consent_analytics": {"total_leads": total, "data_consent_rate": percent(consent[0], total),
                              "marketing_consent_rate": percent(consent[1], total)},
        "lead_quality": {"marketing_consent_rate_percent": percent(consent[1], total),
                         "phone_completion_rate_percent": percent(consent[2], total),
                         "avg_engagement_days": activity.engagement_days(leads)},
        "conversation_engagement": {"total_conversations": engagement[0], "leads_with_conversations": engagement[1],
                                    "avg_messages_per_conversation": round_or_zero(engagement[2]),
                                    "avg_satisfaction": round_or_zero(engagement[3])},
        "conversion_funnel": {"contact_rate_percent": percent(contacted, total),
                              "qualification_rate_percent": percent(qualified, contacted),
                              "conversion_rate_percent": percent(converted, qualified),
                              "overall_conversion_rate_percent": percent(converted, total)},
        "daily_new_leads": [{"date": d.isoformat(), "count": n} for d, n, _ in daily],
        "daily_trend": [{"date": d.isoformat(), "lead_count": n, "conversions": c, "daily_conversion_rate": percent(c, n)}
                        for d, n, c in daily],
    }
