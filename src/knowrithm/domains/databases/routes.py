"""Database connections, tables and querying."""
from __future__ import annotations

from knowrithm.infra.api import ApiBlueprint
from knowrithm.infra.auth import READ, READ_OR_WRITE, WRITE, acting_company_id, current_principal
from knowrithm.infra.ratelimit import rate_limit
from knowrithm.infra.responses import TaskAccepted
from knowrithm.infra.tasks import accepted_body

from . import queued, service
from .schemas import (AnalyzeManyIn, ConnectionCreatedOut, ConnectionDeletedOut, ConnectionExportIn, ConnectionGetOut,
                      ConnectionIn, ConnectionListOut, ConnectionRestoredOut, ConnectionTestOut, ConnectionUpdate,
                      ConnectionUpdatedOut, DatabaseSearchOut, DeletedConnectionsOut, DeletedTablesOut,
                      KnowledgeGraphOut, ListQuery, SampleQueriesOut, SearchDatabaseIn, SnapshotOut, TableDeletedOut,
                      TableListOut, TableOut, TablePageQuery, TableRestoredOut, TablesDeletedOut, TextToSqlIn,
                      TextToSqlOut, connection_out, connections_listing_out, table_out)

bp = ApiBlueprint("databases", __name__, tag="databases")


def _initiator():
    principal = current_principal()
    return str(principal.user_id) if principal and principal.user_id else None


@bp.post(["/database-connection", "/sdk/database"], auth=WRITE, audit="database.connection_created", body=ConnectionIn,
         status=201, response=ConnectionCreatedOut, summary="Create and test a database connection")
def create(body: ConnectionIn):
    conn, ok, message = service.create_connection(company_id=acting_company_id(body.company_id),
                                                  user_id=current_principal().user_id, data=body)
    return {"message": "Database connection created" if ok else f"Connection saved but the test failed: {message}",
            "connection": connection_out(conn), "test_result": message, "is_active": conn.is_active}, 201


@bp.get(["/database-connection", "/database"], auth=READ, query=ListQuery, response=ConnectionListOut,
        summary="List database connections")
def list_connections(query: ListQuery):
    return connections_listing_out(*service.list_connections(
        page=query.page, per_page=query.per_page, database_type=query.database_type, status=query.status,
        agent_id=query.agent_id))


@bp.get("/database-connection/agent/<agent_id>", auth=READ, response=ConnectionListOut,
        summary="An agent's database connections")
def agent_connections(agent_id: str):
    return connections_listing_out(*service.list_connections(page=1, per_page=100, agent_id=agent_id))


@bp.get("/database-connection/deleted", auth=READ, response=DeletedConnectionsOut,
        summary="Deleted database connections")
def deleted_connections():
    rows = [connection_out(c) for c in service.deleted_connections()]
    return {"deleted_connections": rows, "connections": rows}


@bp.get("/database-connection/table/deleted", auth=READ, response=DeletedTablesOut, summary="Deleted tables")
def deleted_tables():
    return {"deleted_tables": [table_out(t) for t in service.deleted_tables()]}


@bp.post("/database-connection/analyze", auth=WRITE, body=AnalyzeManyIn, status=202, response=TaskAccepted,
         summary="Analyse several connections (all active ones by default)")
def analyze_many(body: AnalyzeManyIn):
    record = queued.analyze_many(company_id=acting_company_id(), connection_ids=body.connection_ids)
    return accepted_body(record, message="Analysis queued.", estimated_time=30)


@bp.post("/database-connection/export", auth=WRITE, audit="database.exported", body=ConnectionExportIn, status=202,
         response=TaskAccepted,
         summary="Export a connection's tables into the agent's knowledge")
def export(body: ConnectionExportIn):
    record = queued.export(body.connection_id, limit_per_table=body.limit_per_table)
    return accepted_body(record, message="Export queued.", estimated_time=60)


@bp.get("/database-connection/table/<table_id>", auth=READ, response=TableOut, summary="A table's metadata")
def get_table(table_id: str):
    return table_out(service.get_table(table_id))


@bp.delete("/database-connection/table/<table_id>", auth=WRITE, response=TableDeletedOut,
            summary="Delete a table's metadata")
def delete_table(table_id: str):
    return service.delete_table(table_id)


@bp.patch("/database-connection/table/<table_id>/restore", auth=WRITE, response=TableRestoredOut,
           summary="Restore a table's metadata")
def restore_table(table_id: str):
    return {"message": "Table restored", "table": table_out(service.restore_table(table_id))}


@bp.get("/database-connection/<connection_id>", auth=READ, response=ConnectionGetOut,
        summary="Get a database connection")
def get_connection(connection_id: str):
    row = connection_out(service.get_connection(connection_id))
    return {"connection": row, **row}


@bp.put(["/database-connection/<connection_id>", "/sdk/database/<connection_id>"], auth=WRITE, body=ConnectionUpdate,
        response=ConnectionUpdatedOut, summary="Update a connection")
def update(connection_id: str, body: ConnectionUpdate):
    conn, changed = service.update_connection(connection_id, body)
    row = connection_out(conn)
    return {"success": True, "message": "Database connection updated", "data": row, "connection": row,
            "updated_fields": changed, "initiated_by": _initiator()}


@bp.patch("/database-connection/<connection_id>", auth=WRITE, body=ConnectionUpdate, response=ConnectionUpdatedOut,
          summary="Partially update a connection")
def patch(connection_id: str, body: ConnectionUpdate):
    return update(connection_id=connection_id, body=body)


@bp.delete(["/database-connection/<connection_id>", "/sdk/database/<connection_id>"], auth=WRITE,
           response=ConnectionDeletedOut,
           summary="Delete a connection and its tables")
def delete(connection_id: str):
    return {**service.delete_connection(connection_id), "initiated_by": _initiator()}


@bp.patch("/database-connection/<connection_id>/restore", auth=WRITE, response=ConnectionRestoredOut,
           summary="Restore a deleted connection")
def restore(connection_id: str):
    return {"message": "Database connection restored",
            "connection": connection_out(service.restore_connection(connection_id))}


@bp.post("/database-connection/<connection_id>/test", auth=WRITE, audit="database.connection_tested",
         response=ConnectionTestOut, summary="Test a connection now")
def test(connection_id: str):
    return service.test_connection(connection_id)


@bp.post("/database-connection/<connection_id>/analyze", auth=WRITE, status=202, response=TaskAccepted,
         summary="Analyse a connection's tables (queued)")
def analyze(connection_id: str):
    record = queued.analyze(connection_id)
    return accepted_body(record, message="Analysis queued.", estimated_time=15)


@bp.get("/database-connection/<connection_id>/table", auth=READ, query=TablePageQuery, response=TableListOut,
        summary="A connection's tables")
def list_tables(connection_id: str, query: TablePageQuery):
    conn, items, meta = service.list_tables(connection_id, page=query.page, per_page=query.per_page)
    return {"connection": connection_out(conn), "tables": [table_out(t) for t in items], "pagination": meta}


@bp.delete("/database-connection/<connection_id>/table", auth=WRITE, response=TablesDeletedOut,
            summary="Delete all of a connection's tables")
def delete_tables(connection_id: str):
    return service.delete_tables(connection_id)


@bp.get("/database-connection/<connection_id>/semantic-snapshot", auth=READ, response=SnapshotOut,
        summary="Schema snapshot")
def semantic_snapshot(connection_id: str):
    conn = service.get_connection(connection_id)
    return {"connection_id": str(conn.id), "snapshot": conn.semantic_snapshot or {},
            "analyzed": conn.semantic_snapshot is not None, "last_analyzed": conn.last_analyzed}


@bp.get("/database-connection/<connection_id>/knowledge-graph", auth=READ, response=KnowledgeGraphOut,
        summary="Tables and their relations")
def knowledge_graph(connection_id: str):
    conn = service.get_connection(connection_id)
    return {"connection_id": str(conn.id), "knowledge_graph": conn.knowledge_graph or {"nodes": [], "edges": []},
            **(conn.knowledge_graph or {"nodes": [], "edges": []})}


@bp.get("/database-connection/<connection_id>/sample-queries", auth=READ, response=SampleQueriesOut,
        summary="Generated sample queries")
def sample_queries(connection_id: str):
    conn = service.get_connection(connection_id)
    return {"connection_id": str(conn.id), "sample_queries": conn.sample_queries or []}


@bp.post("/database-connection/<connection_id>/text-to-sql", auth=READ, audit="database.queried", body=TextToSqlIn,
         response=TextToSqlOut,
         summary="Translate a question into SQL (and run it read-only)")
def text_to_sql(connection_id: str, body: TextToSqlIn):
    return service.text_to_sql_answer(connection_id, question=body.question, execute=body.execute,
                                      limit=body.result_limit)


@bp.post("/search/database", auth=READ_OR_WRITE, audit="database.queried", body=SearchDatabaseIn,
         response=DatabaseSearchOut,
         summary="Query connected databases with SQL or a natural-language question")
@rate_limit("30/minute", scope="search-database", per="company")
def search_database(body: SearchDatabaseIn):
    return service.search_database(query=body.query, connection_id=body.connection_id, agent_id=body.agent_id,
                                   mode=body.mode, limit=body.limit)
