"""Databases as live knowledge for chat answers.

For each question the answer engine asks `plan()` whether the agent's analysed database
connections should be queried, then `run()` queries them. The decision and the SQL come from
the agent's model through tool calling (`query_database`) when it has one that supports tools;
otherwise from a deterministic router and the SQL generator (the model's completion when it has
a generative model without tools, the offline rule-based translator when it has none). Every
statement is validated by the connector (one read-only SELECT, sqlglot) and runs in a read-only
transaction with a timeout and a row cap; a database error gets one repair round with the model.
Results come back as passages, so the answer cites them like documents, with the SQL and the
connection name in the source entry.
"""
from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from knowrithm.infra.crypto import decrypt
from knowrithm.infra.db import db
from knowrithm.integrations.databases import ConnectorError, QueryRejected, get_connector
from knowrithm.integrations.llm.base import ChatMessage, LLMError, Passage

from . import text_to_sql
from .models import DatabaseConnection

log = logging.getLogger(__name__)

ROW_CAP = 50  # rows handed to the model per query (the connector caps what it fetches too)
ROWS_IN_PASSAGE = 20
TOOL = "query_database"
QUESTION_SHAPES = re.compile(r"\b(how many|how much|number of|count|total|sum|average|avg|which|what|who|list|show|"
                             r"top|most|least|highest|lowest|per|by)\b", re.I)


@dataclass
class Target:
    """What the worker needs of a connection once the platform's session is released."""

    id: str
    name: str
    database_type: str
    url_encrypted: str
    connection_params: dict
    tables: list[dict]
    sample_queries: list[dict] = field(default_factory=list)


@dataclass
class Result:
    target: Target
    sql: str | None
    generator: str
    columns: list[str] = field(default_factory=list)
    rows: list[list] = field(default_factory=list)
    error: str | None = None
    refused: bool = False
    ms: float = 0.0


def targets(agent_id) -> list[Target]:
    """The agent's active, analysed connections (read before the session is released)."""
    rows = db.session.execute(select(DatabaseConnection).where(
        DatabaseConnection.agent_id == agent_id, DatabaseConnection.is_active.is_(True),
        DatabaseConnection.semantic_snapshot.is_not(None))).scalars()
    return [target_of(c) for c in rows]


def target_of(conn: DatabaseConnection) -> Target:
    return Target(str(conn.id), conn.name, conn.database_type, conn.url_encrypted, dict(conn.connection_params or {}),
                  list((conn.semantic_snapshot or {}).get("tables") or []), list(conn.sample_queries or []))


def _words(text: str) -> set[str]:
    return {text_to_sql._stem(w) for w in re.findall(r"[a-z0-9_]+", text.lower())}


def routes_to(question: str, target: Target) -> bool:
    """The deterministic router: the question has a query shape and names a table, a column or a
    known value of this database."""
    if not QUESTION_SHAPES.search(question):
        return False
    words, q = _words(question), question.lower()
    for table in target.tables:
        if text_to_sql._score_name(table["name"], words) > 0:
            return True
        if any(c["name"] != "_id" and text_to_sql._stem(c["name"].lower()) in words for c in table.get("columns") or []):
            return True
        for values in (table.get("sample_values") or {}).values():
            if any(v and re.search(r"(?<![\w])" + re.escape(v.lower()) + r"(?![\w])", q) for v in values):
                return True
    return False


def database_file_dirs() -> list[str]:
    """DATABASE_FILE_DIRS (the default one is created on first use)."""
    settings = current_app.config["SETTINGS"]
    dirs = settings.database_file_dirs
    if not settings.DATABASE_FILE_DIRS:
        Path(dirs[0]).mkdir(parents=True, exist_ok=True)
    return dirs


def _connector(target: Target, settings):
    params = {**target.connection_params, "allowed_dirs": database_file_dirs()}
    return get_connector(target.database_type, decrypt(target.url_encrypted), params,
                         allow_private=settings.ALLOW_PRIVATE_URLS)


def _execute(result: Result, settings) -> Result:
    started = time.perf_counter()
    try:
        connector = _connector(result.target, settings)
        result.sql = connector.validate_select(result.sql, limit=ROW_CAP)
        result.columns, result.rows = connector.execute_read(result.sql, limit=ROW_CAP,
                                                             timeout_seconds=settings.DATABASE_QUERY_TIMEOUT_SECONDS)
        result.error = None
    except QueryRejected as exc:
        result.error, result.refused = str(exc), True
    except ConnectorError as exc:
        result.error = str(exc)
    result.ms = round((time.perf_counter() - started) * 1000, 2)
    return result


def _dialect(target: Target) -> str:
    return {"postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB", "sqlite": "SQLite", "mssql": "SQL Server (T-SQL)",
            "mongodb": 'MongoDB: instead of SQL write Extended JSON {"collection": "<name>", "pipeline": [<stages>]}'
            }.get(target.database_type, target.database_type)


def _schema_block(targets_: list[Target]) -> str:
    return "\n\n".join(f"Connection {t.name!r} ({_dialect(t)}):\n"
                       + text_to_sql.schema_text(t.tables, t.sample_queries) for t in targets_)


def tool_spec(targets_: list[Target]) -> dict:
    return {"type": "function", "function": {
        "name": TOOL,
        "description": ("Run one read-only SQL SELECT on one of the company's databases and get its rows. Call it "
                        "when the question needs records or figures from these databases:\n\n"
                        + _schema_block(targets_)),
        "parameters": {"type": "object", "properties": {
            "connection": {"type": "string", "enum": [t.name for t in targets_]},
            "sql": {"type": "string", "description": "One SELECT statement in the connection's SQL dialect"}},
            "required": ["connection", "sql"]}}}


def _by_name(targets_: list[Target], name) -> Target:
    return next((t for t in targets_ if t.name == name), targets_[0])


def run(question: str, targets_: list[Target], adapters, settings, on_query=lambda: None) -> list[Result]:
    """Query the databases the question needs (possibly none); `on_query()` runs once, just before
    the first query (the engine streams a "querying the database" status)."""
    if not targets_:
        return []
    started = []

    def execute(result: Result) -> Result:
        if not started:
            started.append(True)
            on_query()
        return _execute(result, settings)

    tooled = [a for _, a in adapters if getattr(a, "supports_tools", False)]
    if tooled:
        return _with_tools(question, targets_, tooled[0], execute)
    generative = [a for _, a in adapters if a.name != "extractive"]
    results = []
    for target in [t for t in targets_ if routes_to(question, t)]:
        sql, generator = None, "rules"
        if generative:
            sql = complete_sql(generative[0], question, target)
            generator = "llm"
        if not sql:
            translation = offline_translation(question, target.database_type, target.tables, limit=ROW_CAP)
            sql, generator = translation.sql, "rules"
        if sql:
            result = execute(Result(target, sql, generator))
            if result.error and not result.refused and generator == "llm":
                repaired = complete_sql(generative[0], question, target, failed=(result.sql, result.error))
                if repaired:
                    result = execute(Result(target, repaired, "llm"))
            results.append(result)
    return results


def identifier_quoter(database_type: str):
    if database_type == "mysql":
        return lambda name: "`" + name.replace("`", "``") + "`"
    if database_type == "mssql":
        return lambda name: "[" + name.replace("]", "]]") + "]"
    return text_to_sql._quote


def offline_translation(question: str, database_type: str, tables: list[dict], *, limit: int):
    """The offline generator for the engine: SQL, or a pipeline for MongoDB."""
    if database_type == "mongodb":
        return text_to_sql.translate_to_pipeline(question, tables, limit=limit)
    return text_to_sql.translate_with_rules(question, tables, dialect_quote=identifier_quoter(database_type),
                                            limit=limit)


def complete_sql(adapter, question: str, target: Target, failed: tuple | None = None) -> str | None:
    """SQL from a model without tool calling (the prompt: the snapshot and sample queries); with
    `failed` = (sql, the database's error), the one repair round."""
    schema = text_to_sql.schema_text(target.tables, target.sample_queries)
    prompt = text_to_sql.SQL_PROMPT.format(dialect=_dialect(target), schema=schema)
    messages = [ChatMessage("system", prompt), ChatMessage("user", question)]
    if failed:
        messages += [ChatMessage("assistant", failed[0]),
                     ChatMessage("user", f"The database refused that query: {failed[1]}\nReply with a corrected query.")]
    try:
        return text_to_sql.extract_sql(adapter.complete(messages).text) or None
    except LLMError:
        return None


def _with_tools(question: str, targets_: list[Target], adapter, execute) -> list[Result]:
    system = ("You answer questions for a company. When the question needs its database records, call "
              f"{TOOL} with one SELECT; otherwise answer without calling it.")
    messages = [ChatMessage("system", system), ChatMessage("user", question)]
    spec = tool_spec(targets_)
    try:
        call = adapter.call_tool(messages, [spec])
    except LLMError as exc:
        log.warning("tool call failed (%s); answering from documents", exc)
        return []
    if call is None or call[0] != TOOL:
        return []
    args = call[1]
    target = _by_name(targets_, args.get("connection"))
    result = execute(Result(target, str(args.get("sql") or ""), "llm"))
    if result.error and not result.refused:  # one repair round with the database's error
        messages += [ChatMessage("assistant", f"{TOOL}({json.dumps(args)})"),
                     ChatMessage("user", f"The database returned an error: {result.error}. "
                                         f"Call {TOOL} again with a corrected query.")]
        try:
            retry = adapter.call_tool(messages, [spec])
        except LLMError:
            retry = None
        if retry and retry[0] == TOOL:
            target = _by_name(targets_, retry[1].get("connection"))
            result = execute(Result(target, str(retry[1].get("sql") or ""), "llm"))
    return [result]


def passage(result: Result, number: int, question: str) -> Passage:
    """The rows as text a model (or the extractive answerer) can quote: the question, then the rows."""
    if not result.rows:
        body = f"The {result.target.name} database has no rows matching \"{question.strip()}\"."
    else:
        def row_text(row):
            return ", ".join(f"{c} = {v}" for c, v in zip(result.columns, row))
        body = f"The {result.target.name} database answers \"{question.strip()}\" with {row_text(result.rows[0])}."
        for i, row in enumerate(result.rows[1:ROWS_IN_PASSAGE], start=2):
            body += f" Row {i}: {row_text(row)}."
        if len(result.rows) > ROWS_IN_PASSAGE:
            body += f" ({len(result.rows) - ROWS_IN_PASSAGE} more rows not shown.)"
    return Passage(number=number, content=body, document_name=f"Database: {result.target.name}", score=1.0)


def query_record(result: Result) -> dict:
    """What the reply's metadata keeps of every query, refused and failed ones included."""
    return {"connection_id": result.target.id, "connection_name": result.target.name, "sql": result.sql,
            "generator": result.generator, "row_count": len(result.rows), "error": result.error,
            "refused": result.refused, "query_ms": result.ms}


def source_extra(result: Result) -> dict:
    return {"type": "database", "connection_id": result.target.id, "connection_name": result.target.name,
            "sql": result.sql, "generator": result.generator, "row_count": len(result.rows),
            "columns": result.columns, "query_ms": result.ms}
