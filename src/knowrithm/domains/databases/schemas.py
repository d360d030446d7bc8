from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from knowrithm.infra.db import iso, sid


class ConnectionIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=1, max_length=2000, description="SQLAlchemy URL / DSN; stored encrypted")
    database_type: str = Field(min_length=1, max_length=30)
    agent_id: str
    connection_params: dict = {}
    company_id: str | None = None
    user_id: str | None = None


class ConnectionUpdate(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str | None = Field(None, min_length=1, max_length=200)
    url: str | None = Field(None, min_length=1, max_length=2000)
    database_type: str | None = None
    connection_params: dict | None = None
    agent_id: str | None = None
    is_active: bool | None = None


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="allow")
    page: int = Field(1, ge=1)
    per_page: int = Field(20, ge=1, le=100)
    database_type: str | None = None
    status: str | None = None
    agent_id: str | None = None


class PageQuery(BaseModel):
    page: int = Field(1, ge=1)
    per_page: int = Field(10, ge=1, le=100)


class AnalyzeManyIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    connection_ids: list[str] | None = None


class TextToSqlIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    question: str = Field(min_length=1, max_length=2000)
    execute: bool = True
    result_limit: int = Field(100, ge=1, le=1000)


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    connection_id: str
    limit_per_table: int = Field(1000, ge=1, le=100000)


class SearchDatabaseIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    query: str = Field(min_length=1, max_length=4000)
    connection_id: str | None = None
    agent_id: str | None = None
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
