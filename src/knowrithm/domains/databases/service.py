"""Customer database connections: tested on save, analysed into table metadata, queried
read-only (SQL or natural language), exported into the agent's knowledge."""
from __future__ import annotations

import csv
import io
import json
import time
import uuid

from flask import current_app
from sqlalchemy import select, update

from knowrithm.domains.agents.models import Agent
from knowrithm.domains.documents.models import Document
from knowrithm.domains.documents.tasks import process_document
from knowrithm.domains.llm.service import runtime_for_settings, settings_for_agent
from knowrithm.infra.crypto import decrypt, encrypt
from knowrithm.infra.db import db, utcnow
from knowrithm.infra.errors import ApiError, NotFound, ValidationFailed
from knowrithm.infra.pagination import paginate
from knowrithm.infra.tasks import enqueue
from knowrithm.infra.tenancy import get_or_404
from knowrithm.integrations.databases import (ConnectorError, QueryRejected, get_connector, normalise_type,
                                              supported_types)
from knowrithm.integrations.storage import get_storage

from . import answers, text_to_sql
from .answers import database_file_dirs, identifier_quoter, offline_translation
from .models import DatabaseConnection, DatabaseTable
from .schemas import ConnectionIn, ConnectionUpdate


class DatabaseFailure(ApiError):
    status, code, message = 400, "DATABASE_ERROR", "Database error"


def _settings():
    return current_app.config["SETTINGS"]


def connector_for(conn: DatabaseConnection):
    params = {**(conn.connection_params or {}), "allowed_dirs": database_file_dirs()}
    return get_connector(conn.database_type, decrypt(conn.url_encrypted), params,
                         allow_private=_settings().ALLOW_PRIVATE_URLS)


def _check_type(database_type: str) -> str:
    kind = normalise_type(database_type)
    if kind is None:
        raise ValidationFailed("Unsupported database type", details={
            "database_type": [f"'{database_type}' is not supported; supported: {', '.join(supported_types())}"]})
    return kind


def _check_target(conn: DatabaseConnection) -> None:
    """A URL the connector cannot parse, or a target the operator does not allow, is a 400 at once."""
    try:
        connector = connector_for(conn)
        connector.check_location()
        conn.host = connector.host
    except ConnectorError as exc:
        raise ValidationFailed(str(exc), code=exc.code if exc.code != "DATABASE_ERROR" else None,
                               details={"url": [str(exc)]}) from exc


def _probe(conn: DatabaseConnection) -> tuple[bool, str]:
    """Tests the connection and stamps the result on the row (no commit)."""
    try:
        connector_for(conn).test_connection()
        ok, message = True, "Connection successful"
    except ConnectorError as exc:
        ok, message = False, str(exc)
    conn.last_tested, conn.test_result, conn.is_active = utcnow(), message, ok
    return ok, message


def create_connection(*, company_id: uuid.UUID, user_id, data: ConnectionIn) -> tuple[DatabaseConnection, bool, str]:
    agent = get_or_404(Agent, data.agent_id, what="Agent")
    kind = _check_type(data.database_type)
    conn = DatabaseConnection(company_id=company_id, agent_id=agent.id, user_id=user_id, name=data.name,
                              database_type=kind, url_encrypted=encrypt(data.url),
                              connection_params=data.connection_params or {})
    _check_target(conn)
    ok, message = _probe(conn)
    db.session.add(conn)
    db.session.commit()
    return conn, ok, message


def list_connections(*, page=1, per_page=20, database_type=None, status=None, agent_id=None) -> tuple[list, dict]:
    stmt = select(DatabaseConnection).order_by(DatabaseConnection.created_at.desc())
    if database_type:
        stmt = stmt.where(DatabaseConnection.database_type == (normalise_type(database_type) or database_type))
    if status in ("active", "inactive"):
        stmt = stmt.where(DatabaseConnection.is_active.is_(status == "active"))
    if agent_id:
        stmt = stmt.where(DatabaseConnection.agent_id == get_or_404(Agent, agent_id, what="Agent").id)
    return paginate(stmt, page, per_page)


def get_connection(connection_id) -> DatabaseConnection:
    return get_or_404(DatabaseConnection, connection_id, what="Database connection")


def update_connection(connection_id, data: ConnectionUpdate) -> tuple[DatabaseConnection, list[str]]:
    conn = get_connection(connection_id)
    fields = data.model_dump(exclude_unset=True)
    changed = []
    if fields.get("agent_id"):
        conn.agent_id = get_or_404(Agent, fields["agent_id"], what="Agent").id
        changed.append("agent_id")
    if fields.get("database_type"):
        conn.database_type = _check_type(fields["database_type"])
        changed.append("database_type")
    if fields.get("url"):
        conn.url_encrypted = encrypt(fields["url"])
        changed.append("url")
    for key in ("name", "connection_params", "is_active"):
        if fields.get(key) is not None:
            setattr(conn, key, fields[key])
            changed.append(key)
    if {"url", "database_type", "connection_params"} & set(changed):
        try:
            _check_target(conn)
        except ValidationFailed:
            db.session.rollback()
            raise
        _probe(conn)
    db.session.commit()
    return conn, changed


def delete_connection(connection_id) -> dict:
    conn = get_connection(connection_id)
    now = utcnow()
    count = db.session.execute(update(DatabaseTable).where(DatabaseTable.connection_id == conn.id,
                                                           DatabaseTable.deleted_at.is_(None))
                               .values(deleted_at=now)).rowcount
    conn.deleted_at = now
    db.session.commit()
    return {"message": "Database connection deleted", "connection_id": str(conn.id), "deleted_tables_count": count}


def restore_connection(connection_id) -> DatabaseConnection:
    conn = get_or_404(DatabaseConnection, connection_id, include_deleted=True, what="Database connection")
    if conn.deleted_at is None:
        raise ValidationFailed("Database connection is not deleted", code="NOT_DELETED")
    deleted_at = conn.deleted_at
    conn.deleted_at = None
    db.session.execute(update(DatabaseTable).where(DatabaseTable.connection_id == conn.id,
                                                   DatabaseTable.deleted_at == deleted_at).values(deleted_at=None))
    db.session.commit()
    return conn


def deleted_connections() -> list[DatabaseConnection]:
    return list(db.session.execute(
        select(DatabaseConnection).where(DatabaseConnection.deleted_at.is_not(None))
        .order_by(DatabaseConnection.deleted_at.desc()).execution_options(include_deleted=True)
    ).scalars())


def test_connection(connection_id) -> dict:
    conn = get_connection(connection_id)
    ok, message = _probe(conn)
    db.session.commit()
    return {"is_valid": ok, "status": "success" if ok else "failed", "message": message,
            "tested_at": conn.last_tested.isoformat(), "connection_id": str(conn.id)}


# --- analysis -------------------------------------------------------------------------------

def analyze(connection_id) -> dict:
    """Introspects tables, columns, keys, row counts and short value lists; builds the
    semantic snapshot, knowledge graph and sample queries. Re-running replaces them."""
    conn = get_connection(connection_id)
    connector = connector_for(conn)
    try:
        tables = connector.introspect()
    except ConnectorError as exc:
        raise DatabaseFailure(f"Analysis failed: {exc}", code=exc.code) from exc
    now = utcnow()
    existing = {(t.schema_name, t.table_name): t for t in db.session.execute(
        select(DatabaseTable).where(DatabaseTable.connection_id == conn.id).execution_options(include_deleted=True)
    ).scalars()}
    seen = set()
    for info in tables:
        row = existing.get((info.schema, info.name))
        if row is None:
            row = DatabaseTable(company_id=conn.company_id, connection_id=conn.id, table_name=info.name,
                                schema_name=info.schema)
            db.session.add(row)
        row.deleted_at = None
        row.table_type, row.row_count = info.table_type, info.row_count
        row.columns_info = [{**c, "sample_values": info.sample_values.get(c["name"], [])} for c in info.columns]
        row.relationships, row.last_analyzed = info.foreign_keys, now
        seen.add((info.schema, info.name))
    for key, row in existing.items():
        if key not in seen and row.deleted_at is None:
            row.deleted_at = now  # the table is gone from the source database
    snapshot = {"database_type": conn.database_type, "generated_at": now.isoformat(), "tables": [
        {"name": t.name, "schema": t.schema, "type": t.table_type, "row_count": t.row_count,
         "columns": t.columns, "foreign_keys": t.foreign_keys, "sample_values": t.sample_values} for t in tables]}
    conn.semantic_snapshot = snapshot
    conn.knowledge_graph = _graph(tables)
    conn.sample_queries = _sample_queries(snapshot["tables"], connector)
    conn.last_analyzed = now
    db.session.commit()
    return {"message": "Analysis completed", "connection_id": str(conn.id), "tables_found": len(tables),
            "tables": [t.name for t in tables], "analyzed_at": now.isoformat()}


def _graph(tables) -> dict:
    nodes = [{"id": t.name, "type": t.table_type, "row_count": t.row_count,
              "columns": [c["name"] for c in t.columns]} for t in tables]
    edges = [{"source": t.name, "target": fk["referred_table"], "columns": fk["columns"],
              "referred_columns": fk["referred_columns"], "relationship": "many_to_one"}
             for t in tables for fk in t.foreign_keys]
    return {"nodes": nodes, "edges": edges}


def _sample_queries(tables: list[dict], connector) -> list[dict]:
    if connector.query_language == "mongodb":
        import json

        return [{"question": f"How many {t['name']} are there?", "table": t["name"],
                 "sql": json.dumps({"collection": t["name"], "pipeline": [{"$count": "count"}]})} for t in tables[:20]]
    quote = _quoter(connector)
    out = []
    for t in tables[:20]:
        ref = f"{quote(t['schema'])}.{quote(t['name'])}" if t.get("schema") else quote(t["name"])
        out.append({"question": f"How many {t['name']} are there?", "sql": f"SELECT COUNT(*) AS count FROM {ref}",
                    "table": t["name"]})
        out.append({"question": f"Show some {t['name']}", "sql": f"SELECT * FROM {ref} LIMIT 10", "table": t["name"]})
        for col, values in (t.get("sample_values") or {}).items():
            value = values[0].replace("'", "''")
            out.append({"question": f"How many {t['name']} have {col} {values[0]}?",
                        "sql": f"SELECT COUNT(*) AS count FROM {ref} WHERE {quote(col)} = '{value}'",
                        "table": t["name"]})
            break
    return out


def _quoter(connector):
    return identifier_quoter(connector.type)


def analyzed_tables(conn: DatabaseConnection) -> list[dict]:
    return list((conn.semantic_snapshot or {}).get("tables") or [])


# --- tables -------------------------------------------------------------------------------------

def list_tables(connection_id, *, page=1, per_page=10) -> tuple[DatabaseConnection, list, dict]:
    conn = get_connection(connection_id)
    stmt = select(DatabaseTable).where(DatabaseTable.connection_id == conn.id).order_by(DatabaseTable.table_name)
    items, meta = paginate(stmt, page, per_page)
    return conn, items, meta


def get_table(table_id) -> DatabaseTable:
    return get_or_404(DatabaseTable, table_id, what="Table")


def delete_table(table_id) -> dict:
    table = get_table(table_id)
    table.deleted_at = utcnow()
    db.session.commit()
    return {"message": "Table deleted", "table_id": str(table.id)}


def restore_table(table_id) -> DatabaseTable:
    table = get_or_404(DatabaseTable, table_id, include_deleted=True, what="Table")
    table.deleted_at = None
    db.session.commit()
    return table


def delete_tables(connection_id) -> dict:
    conn = get_connection(connection_id)
    count = db.session.execute(update(DatabaseTable).where(DatabaseTable.connection_id == conn.id,
                                                           DatabaseTable.deleted_at.is_(None))
                               .values(deleted_at=utcnow())).rowcount
    db.session.commit()
    return {"message": "Tables deleted", "connection_id": str(conn.id), "deleted": count}


def deleted_tables() -> list[DatabaseTable]:
    return list(db.session.execute(
        select(DatabaseTable).where(DatabaseTable.deleted_at.is_not(None)).order_by(DatabaseTable.table_name)
        .execution_options(include_deleted=True)
    ).scalars())


# --- querying --------------------------------------------------------------------------------

def _models(conn: DatabaseConnection) -> list:
    """The agent's generative models, in fallback order; none when it only has the offline answerer."""
    if conn.agent_id is None:
        return []
    try:
        adapters, _ = runtime_for_settings(settings_for_agent(conn.agent_id))
    except ApiError:
        return []
    return [a for _, a in adapters if a.name != "extractive"]


def _llm_sql(models: list, question: str, target, failed: tuple | None = None):
    """(the model that answered, its SQL), or (None, None)."""
    for adapter in models:
        sql = answers.complete_sql(adapter, question, target, failed=failed)
        if sql:
            return adapter, sql
    return None, None


def text_to_sql_answer(connection_id, *, question: str, execute: bool = True, limit: int = 100) -> dict:
    conn = get_connection(connection_id)
    if not conn.semantic_snapshot:
        analyze(connection_id)
        conn = get_connection(connection_id)
    connector = connector_for(conn)
    target = answers.target_of(conn)
    model, sql = _llm_sql(_models(conn), question, target)
    if sql:
        translation = text_to_sql.Translation(sql, "Generated by the agent's language model from the schema.", "llm")
    else:
        translation = offline_translation(question, connector.type, analyzed_tables(conn), limit=limit)
    body = {"question": question, "sql": translation.sql, "explanation": translation.explanation,
            "generator": translation.generator, "executed": False, "results": [], "columns": [], "row_count": 0}
    if translation.sql is None:
        return body
    try:
        _run(connector, body, translation.sql, execute=execute, limit=limit)
    except QueryRejected as exc:  # refused on purpose: never handed back to the model to rephrase
        raise DatabaseFailure(str(exc), code=exc.code, details={"sql": body["sql"]}) from exc
    except ConnectorError as exc:
        # One repair round, as in chat: the model sees the database's error once.
        retry = model is not None and execute and exc.code == "DATABASE_ERROR"  # not for an unreachable server
        _, repaired = _llm_sql([model], question, target, failed=(body["sql"], str(exc))) if retry else (None, None)
        if not repaired:
            raise DatabaseFailure(str(exc), code=exc.code, details={"sql": body["sql"]}) from exc
        body["explanation"] = "Generated by the agent's language model, repaired once after the database's error."
        try:
            _run(connector, body, repaired, execute=True, limit=limit)
        except ConnectorError as again:
            raise DatabaseFailure(str(again), code=again.code, details={"sql": body["sql"]}) from again
    return body


def _run(connector, body: dict, sql: str, *, execute: bool, limit: int) -> None:
    body["sql"] = connector.validate_select(sql, limit=limit)
    if execute:
        started = time.perf_counter()
        columns, rows = connector.execute_read(body["sql"], limit=limit,
                                               timeout_seconds=_settings().DATABASE_QUERY_TIMEOUT_SECONDS)
        body.update(executed=True, columns=columns, results=[dict(zip(columns, r)) for r in rows],
                    row_count=len(rows), execution_time=round(time.perf_counter() - started, 4))


SQL_STARTS = ("select", "with", "insert", "update", "delete", "drop", "create", "alter", "truncate", "grant",
              "revoke", "merge", "call", "exec", "set", "copy", "vacuum", "pragma", "attach", "replace")


def _looks_like_sql(text: str) -> bool:
    """SQL goes through the validator (and is refused unless it is a SELECT), never the translator."""
    first = text.strip().split(None, 1)[0].lower() if text.strip() else ""
    return first in SQL_STARTS or text.strip().startswith("{")  # a MongoDB query (Extended JSON)


def search_database(*, query: str, connection_id=None, agent_id=None, mode=None, limit=100) -> dict:
    started = time.perf_counter()
    if connection_id:
        connections = [get_connection(connection_id)]
    else:
        stmt = select(DatabaseConnection).where(DatabaseConnection.is_active.is_(True))
        if agent_id:
            stmt = stmt.where(DatabaseConnection.agent_id == get_or_404(Agent, agent_id, what="Agent").id)
        connections = list(db.session.execute(stmt).scalars())
    if connection_id and not connections[0].is_active:
        raise NotFound("Database connection is inactive", code="CONNECTION_INACTIVE")
    as_sql = mode == "sql" or (mode is None and _looks_like_sql(query))
    results: dict = {}
    details: dict = {}
    for conn in connections:
        try:
            if as_sql:
                connector = connector_for(conn)
                safe = connector.validate_select(query, limit=limit)
                columns, rows = connector.execute_read(safe, limit=limit,
                                                       timeout_seconds=_settings().DATABASE_QUERY_TIMEOUT_SECONDS)
                results[conn.name] = [dict(zip(columns, r)) for r in rows]
                details[conn.name] = {"sql": safe, "row_count": len(rows)}
            else:
                answer = text_to_sql_answer(conn.id, question=query, limit=limit)
                results[conn.name] = answer["results"] if answer["sql"] else {"error": answer["explanation"]}
                details[conn.name] = {"sql": answer["sql"], "row_count": answer["row_count"],
                                      "generator": answer["generator"]}
        except (ConnectorError, DatabaseFailure) as exc:
            results[conn.name] = {"error": str(exc)}
    return {"query": query, "mode": "sql" if as_sql else "semantic", "results": results, "queries": details,
            "connections_searched": len(connections), "execution_time": round(time.perf_counter() - started, 4)}


# --- export into knowledge -----------------------------------------------------------------------

def export_to_knowledge(connection_id, *, limit_per_table: int = 1000) -> dict:
    """Each analysed table becomes a CSV document of the agent's knowledge, indexed by the
    documents pipeline (so its rows are searchable and citable)."""
    conn = get_connection(connection_id)
    if conn.agent_id is None:
        raise ValidationFailed("The connection has no agent to export into", code="NO_AGENT")
    if not conn.semantic_snapshot:
        analyze(connection_id)
        conn = get_connection(connection_id)
    connector = connector_for(conn)
    quote = _quoter(connector)
    storage = get_storage(_settings())
    exported, failures, document_ids = [], [], []
    for table in analyzed_tables(conn):
        ref = f"{quote(table['schema'])}.{quote(table['name'])}" if table.get("schema") else quote(table["name"])
        everything = (f'{{"collection": {json.dumps(table["name"])}, "pipeline": []}}'
                      if connector.query_language == "mongodb" else f"SELECT * FROM {ref}")
        try:
            columns, rows = connector.execute_read(everything, limit=limit_per_table)
        except ConnectorError as exc:
            failures.append({"table": table["name"], "error": str(exc)})
            continue
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        writer.writerows(rows)
        data = buffer.getvalue().encode()
        name = f"{conn.name}-{table['name']}.csv"
        doc = Document(company_id=conn.company_id, agent_id=conn.agent_id, original_filename=name, filename=name,
                       title=f"{conn.name}: {table['name']}", document_type="csv", mime_type="text/csv",
                       status="pending", extra_metadata={"source": "database", "connection_id": str(conn.id),
                                                         "table": table["name"]})
        db.session.add(doc)
        db.session.flush()
        stored = storage.save(f"{conn.company_id}/{conn.agent_id}/{doc.id}/source.csv", io.BytesIO(data))
        doc.storage_path, doc.file_size, doc.content_hash = stored.key, stored.size, stored.sha256
        enqueue(process_document, company_id=conn.company_id, commit=False, document_id=str(doc.id))
        document_ids.append(str(doc.id))
        exported.append({"table": table["name"], "rows": len(rows), "document_id": str(doc.id)})
    db.session.commit()
    return {"message": "Export queued for indexing", "connection_id": str(conn.id), "tables_exported": len(exported),
            "tables": exported, "failures": failures, "document_ids": document_ids}
