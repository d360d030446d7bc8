"""Slow database work (queue `slow` by name prefix): analysis and export into knowledge."""
from __future__ import annotations

from celery import shared_task
from sqlalchemy import select

from knowrithm.infra.db import db

from . import service
from .models import DatabaseConnection


@shared_task(name="knowrithm.databases.analyze_connection", acks_late=True, soft_time_limit=900, time_limit=960)
def analyze_connection(connection_id: str, company_id: str | None = None) -> dict:
    return service.analyze(connection_id)


@shared_task(name="knowrithm.databases.analyze_connections", acks_late=True, soft_time_limit=3600, time_limit=3700)
def analyze_connections(connection_ids: list[str] | None = None, company_id: str | None = None) -> dict:
    if not connection_ids:
        stmt = select(DatabaseConnection.id).where(DatabaseConnection.is_active.is_(True))
        connection_ids = [str(i) for i in db.session.execute(stmt).scalars()]
    results = []
    for connection_id in connection_ids:
        try:
            results.append({**service.analyze(connection_id), "status": "completed"})
        except Exception as exc:  # noqa: BLE001 - one bad connection must not stop the others
            db.session.rollback()
            results.append({"connection_id": connection_id, "status": "failed", "error": str(exc)})
    return {"message": f"Analysed {sum(r['status'] == 'completed' for r in results)} of {len(results)} connections",
            "results": results}


@shared_task(name="knowrithm.databases.export_connection", acks_late=True, soft_time_limit=1800, time_limit=1900)
def export_connection(connection_id: str, limit_per_table: int = 1000, company_id: str | None = None) -> dict:
    return service.export_to_knowledge(connection_id, limit_per_table=limit_per_table)
