"""Database connection, analysis, text-to-SQL and export request bodies, and their output shapes."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from knowrithm.infra.db import iso, sid
from knowrithm.infra.parsing import UuidText
from knowrithm.infra.responses import MessageOut, Open, Pagination


class ConnectionIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=1, max_length=2000, description="SQLAlchemy URL / DSN; stored encrypted")
    database_type: str = Field(min_length=1, max_length=30)
    agent_id: UuidText
    connection_params: dict = {}
    company_id: UuidText | None = None
    user_id: UuidText | None = None


class ConnectionUpdate(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str | None = Field(None, min_length=1, max_length=200)
    url: str | None = Field(None, min_length=1, max_length=2000)
    database_type: str | None = None
    connection_params: dict | None = None
    agent_id: UuidText | None = None
    is_active: bool | None = None


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="allow")
    page: int = Field(1, ge=1)
    per_page: int = Field(20, ge=1, le=100)
    database_type: str | None = None
    status: str | None = None
    agent_id: UuidText | None = None


class TablePageQuery(BaseModel):
    page: int = Field(1, ge=1)
    per_page: int = Field(10, ge=1, le=100)


class AnalyzeManyIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    connection_ids: list[UuidText] | None = None


class TextToSqlIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    question: str = Field(min_length=1, max_length=2000)
    execute: bool = True
    result_limit: int = Field(100, ge=1, le=1000)


class ConnectionExportIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    connection_id: UuidText
    limit_per_table: int = Field(1000, ge=1, le=100000)


class SearchDatabaseIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    query: str = Field(min_length=1, max_length=4000)
    connection_id: UuidText | None = None
    agent_id: UuidText | None = None
    mode: str | None = Field(None, description="`sql` or `semantic` (natural language); guessed when absent")
    limit: int = Field(100, ge=1, le=1000)


def connection_out(c) -> dict:
    return {
        "id": sid(c.id), "company_id": sid(c.company_id), "agent_id": sid(c.agent_id), "user_id": sid(c.user_id),
        "name": c.name, "database_type": c.database_type, "type": c.database_type, "host": c.host,
        "connection_params": {k: v for k, v in (c.connection_params or {}).items() if "password" not in k.lower()},
        "is_active": c.is_active, "last_tested": iso(c.last_tested), "test_result": c.test_result,
        "last_analyzed": iso(c.last_analyzed), "created_at": iso(c.created_at), "updated_at": iso(c.updated_at),
        "deleted_at": iso(c.deleted_at),
    }


def table_out(t) -> dict:
    return {
        "id": sid(t.id), "connection_id": sid(t.connection_id), "table_name": t.table_name,
        "schema_name": t.schema_name, "table_type": t.table_type, "row_count": t.row_count,
        "table_size": t.table_size, "columns_info": t.columns_info or [], "relationships": t.relationships or [],
        "description": t.description, "last_analyzed": iso(t.last_analyzed), "created_at": iso(t.created_at),
        "updated_at": iso(t.updated_at), "deleted_at": iso(t.deleted_at),
    }


class ConnectionOut(Open):
    """`connection_out`: never the URL or a password."""

    id: uuid.UUID
    company_id: uuid.UUID
    agent_id: uuid.UUID | None
    user_id: uuid.UUID | None
    name: str
    database_type: str
    type: str
    host: str | None
    connection_params: dict[str, Any]
    is_active: bool
    last_tested: datetime | None
    test_result: str | None
    last_analyzed: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    deleted_at: datetime | None


class TableOut(Open):
    id: uuid.UUID
    connection_id: uuid.UUID
    table_name: str
    schema_name: str | None
    table_type: str | None
    row_count: int | None
    table_size: int | None
    columns_info: list[Any]
    relationships: list[Any]
    description: str | None
    last_analyzed: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    deleted_at: datetime | None


class ConnectionCreatedOut(MessageOut):
    connection: ConnectionOut
    test_result: str | None
    is_active: bool


class ConnectionListOut(Open):
    connection: list[ConnectionOut]
    connections: list[ConnectionOut]
    data: list[ConnectionOut]
    pagination: Pagination


class DeletedConnectionsOut(Open):
    deleted_connections: list[ConnectionOut]
    connections: list[ConnectionOut]


class DeletedTablesOut(Open):
    deleted_tables: list[TableOut]


class TableDeletedOut(MessageOut):
    table_id: uuid.UUID


class TableRestoredOut(MessageOut):
    table: TableOut


class ConnectionGetOut(ConnectionOut):
    connection: ConnectionOut


class ConnectionUpdatedOut(Open):
    success: bool
    message: str
    data: ConnectionOut
    connection: ConnectionOut
    updated_fields: list[str]
    initiated_by: uuid.UUID | None


class ConnectionDeletedOut(MessageOut):
    connection_id: uuid.UUID
    deleted_tables_count: int = Field(ge=0)
    initiated_by: uuid.UUID | None


class ConnectionRestoredOut(MessageOut):
    connection: ConnectionOut


class ConnectionTestOut(Open):
    is_valid: bool
    status: Literal["success", "failed"]
    message: str | None
    tested_at: datetime
    connection_id: uuid.UUID


class TableListOut(Open):
    connection: ConnectionOut
    tables: list[TableOut]
    pagination: Pagination


class TablesDeletedOut(MessageOut):
    connection_id: uuid.UUID
    deleted: int = Field(ge=0)


class SnapshotOut(Open):
    connection_id: uuid.UUID
    snapshot: dict[str, Any]
    analyzed: bool
    last_analyzed: datetime | None


class KnowledgeGraphOut(Open):
    connection_id: uuid.UUID
    knowledge_graph: dict[str, Any]


class SampleQueriesOut(Open):
    connection_id: uuid.UUID
    sample_queries: list[Any]


class TextToSqlOut(Open):
    """`sql` is null when no query could be written; `results` only when `executed`."""

    question: str
    sql: str | None
    explanation: str | None
    generator: str | None
    executed: bool
    results: list[dict[str, Any]]
    columns: list[str]
    row_count: int = Field(ge=0)
    execution_time: float | None = None


class DatabaseSearchOut(Open):
    query: str
    mode: Literal["sql", "semantic"]
    results: dict[str, Any]
    queries: dict[str, Any]
    connections_searched: int = Field(ge=0)
    execution_time: float


def connections_listing_out(items, meta) -> dict:
    rows = [connection_out(c) for c in items]
    return {"connection": rows, "connections": rows, "data": rows, "pagination": meta}
