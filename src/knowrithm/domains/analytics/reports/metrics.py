"""A point-in-time snapshot of a company's volumes (the system-metric task)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from knowrithm.domains.agents.models import Agent
from knowrithm.domains.conversations.models import Conversation, Message
from knowrithm.domains.databases.models import DatabaseConnection
from knowrithm.domains.documents.models import Document
from knowrithm.domains.leads.models import Lead
from knowrithm.infra.db import sid, utcnow

from .common import scalar_of


def collect_metrics(company_id) -> dict:
    """A point-in-time snapshot of the company's volumes (also what the system-metrics endpoint reads)."""
    now = utcnow()
    return {"collected_at": now.isoformat(), "company_id": sid(company_id), "metrics": {
        "agents": scalar_of(select(func.count(Agent.id))),
        "documents": scalar_of(select(func.count(Document.id))),
        "documents_failed": scalar_of(select(func.count(Document.id)).where(Document.status == "failed")),
        "conversations": scalar_of(select(func.count(Conversation.id))),
        "messages_24h": scalar_of(select(func.count(Message.id)).where(Message.created_at >= now - timedelta(hours=24))),
        "leads": scalar_of(select(func.count(Lead.id))),
        "database_connections": scalar_of(select(func.count(DatabaseConnection.id))),
    }}
