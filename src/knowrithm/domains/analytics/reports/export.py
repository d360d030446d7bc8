"""Exports of conversations, leads, agents or usage as JSON or CSV."""
from __future__ import annotations

import csv
import io
from datetime import datetime

from sqlalchemy import select

from knowrithm.domains.agents.models import Agent
from knowrithm.domains.auth.request_log import flush
from knowrithm.domains.conversations.models import Conversation
from knowrithm.domains.leads.models import Lead
from knowrithm.infra.db import db, iso, sid, utcnow
from knowrithm.infra.errors import ValidationFailed

from ..models import ApiRequestLog


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
        flush()
        rows = [{"id": sid(r.id), "endpoint": r.endpoint, "method": r.method, "status_code": r.status_code,
                 "response_time_ms": r.response_time_ms, "ip_address": r.ip_address, "created_at": iso(r.created_at)}
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
