"""Activity over the last 24 hours, counted from the tables themselves.

Each metric is a series of hourly points `{value, timestamp, labels}` (SW's shape), plus a
summary of totals and a `system_health` roll-up (SW's other shape) so either reader works.
"""
from __future__ import annotations

import uuid
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, text

from knowrithm.domains.agents.models import Agent
from knowrithm.domains.analytics.models import ApiRequestLog
from knowrithm.domains.companies import service as companies
from knowrithm.domains.conversations.models import Conversation, Message
from knowrithm.domains.documents.models import Document
from knowrithm.domains.leads.models import Lead
from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db, utcnow
from knowrithm.infra.metrics import live_workers, queue_depths
from knowrithm.infra.tasks import QUEUES, TaskRecord

WINDOW_HOURS = 24

# metric name -> (model, timestamp column, extra condition or None)
SERIES = {
    "agents_created": (Agent, Agent.created_at, None),
    "documents_uploaded": (Document, Document.created_at, None),
    "conversations_started": (Conversation, Conversation.created_at, None),
    "messages_sent": (Message, Message.created_at, None),
    "leads_created": (Lead, Lead.created_at, None),
    "tasks_queued": (TaskRecord, TaskRecord.created_at, None),
    "tasks_failed": (TaskRecord, TaskRecord.finished_at, TaskRecord.state == "FAILURE"),
    "api_requests": (ApiRequestLog, ApiRequestLog.created_at, None),
}
TOTALS = {"agents": Agent, "documents": Document, "conversations": Conversation, "messages": Message,
          "leads": Lead}


def _scoped(stmt, model, company_id):
    stmt = stmt.execution_options(all_companies=True, include_deleted=True)
    return stmt.where(model.company_id == company_id) if company_id else stmt


def collect_for(*, actor: Principal, company_id) -> dict:
    """A super admin's view of one company (soft-deleted ones too)."""
    return collect(companies.visible(actor, company_id, include_deleted=True).id)


def collect(company_id: uuid.UUID | None) -> dict:
    """Metrics for one company, or the whole platform when `company_id` is None."""
    now = utcnow()
    end = now.replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=WINDOW_HOURS - 1)
    hours = [start + timedelta(hours=i) for i in range(WINDOW_HOURS)]
    labels = {"company_id": str(company_id) if company_id else "platform"}
    metrics, summary, health = {}, {}, []
    for name, (model, column, condition) in SERIES.items():
        bucket = func.date_trunc("hour", column)
        stmt = select(bucket, func.count()).where(column >= start)
        if condition is not None:
            stmt = stmt.where(condition)
        counts = {ts.replace(tzinfo=now.tzinfo) if ts.tzinfo is None else ts: n
                  for ts, n in db.session.execute(_scoped(stmt.group_by(bucket), model, company_id))}
        values = [counts.get(h, 0) for h in hours]
        metrics[name] = [{"value": v, "timestamp": h.isoformat(), "labels": labels} for h, v in zip(hours, values)]
        summary[name] = sum(values)
        health.append({"metric_name": name, "metric_type": "counter", "total_24h": sum(values),
                       "average_24h": round(sum(values) / WINDOW_HOURS, 3), "min_24h": min(values),
                       "max_24h": max(values)})
    totals = {}
    for name, model in TOTALS.items():
        stmt = select(func.count()).select_from(model).where(model.deleted_at.is_(None))
        totals[name] = db.session.execute(_scoped(stmt, model, company_id)).scalar_one()
    body = {"success": True, "generated_at": now.isoformat(), "company_id": str(company_id) if company_id else None,
            "window_hours": WINDOW_HOURS, "period": {"start": start.isoformat(), "end": now.isoformat()},
            "metrics": metrics, "summary": {"last_24h": summary, "totals": totals}, "system_health": health}
    if company_id is None:  # the platform view (super admin): queues, workers and the database now
        body["platform"] = platform_figures()
        for name, value in _flatten(body["platform"]):
            health.append({"metric_name": name, "metric_type": "gauge", "value": value,
                           "checked_at": now.isoformat()})
    return body


def platform_figures() -> dict:
    """Queue depth per queue, live workers, and the platform database's connections and size
    (the same figures `/metrics` exports to Prometheus)."""
    app = current_app._get_current_object()
    pool = db.engine.pool
    connections, size = db.session.execute(text(
        "SELECT (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()), "
        "pg_database_size(current_database())")).one()
    return {"queue_depth": queue_depths(app.extensions["celery"], QUEUES), "workers_alive": live_workers(app),
            "database": {"connections": int(connections), "size_bytes": int(size),
                         "pool_checked_out": pool.checkedout() if hasattr(pool, "checkedout") else None,
                         "pool_capacity": pool.size() + max(0, getattr(pool, "_max_overflow", 0))
                         if hasattr(pool, "size") else None}}


def _flatten(value, prefix=""):
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            yield from _flatten(item, name + ".")
        elif item is not None:
            yield name, item
