"""Entry points of the asynchronous database routes: the connections are checked at once (404
before anything is queued), the task does the slow part (introspection, export)."""
from __future__ import annotations

from knowrithm.infra.tasks import TaskRecord, enqueue

from . import service, tasks


def analyze_many(*, company_id, connection_ids: list | None) -> TaskRecord:
    """All named connections (all active ones when none is named)."""
    ids = [str(service.get_connection(i).id) for i in connection_ids or []] or None
    return enqueue(tasks.analyze_connections, company_id=company_id, connection_ids=ids)


def analyze(connection_id) -> TaskRecord:
    conn = service.get_connection(connection_id)
    return enqueue(tasks.analyze_connection, company_id=conn.company_id, connection_id=str(conn.id))


def export(connection_id, *, limit_per_table: int | None) -> TaskRecord:
    conn = service.get_connection(connection_id)
    return enqueue(tasks.export_connection, company_id=conn.company_id, connection_id=str(conn.id),
                   limit_per_table=limit_per_table)
