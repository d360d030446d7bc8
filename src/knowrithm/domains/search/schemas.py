"""Request and response shapes of the search routes."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from knowrithm.infra.parsing import parse_bool
from knowrithm.infra.responses import Open


class DocumentSearchBody(BaseModel):
    query: str = Field(min_length=1, max_length=4000)
    agent_id: uuid.UUID
    limit: int = Field(10, ge=1, le=1000)
    include_content: bool = True
    document_ids: list[uuid.UUID] | None = None

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("include_content", mode="before")
    @classmethod
    def _bool(cls, value):
        return parse_bool(value, True)


def search_out(*, query: str, agent_id, results: list[dict], elapsed: float) -> dict:
    return {"success": True, "query": query, "agent_id": str(agent_id), "results": results,
            "total_results": len(results), "search_type": "hybrid", "execution_time": round(elapsed, 4),
            "execution_time_ms": round(elapsed * 1000, 2)}


class SearchResultOut(Open):
    """One ranked chunk; `content`/`text` are left out when `include_content` is false."""

    id: uuid.UUID
    chunk_id: uuid.UUID
    document_id: uuid.UUID
    document_name: str | None
    chunk_index: int
    content: str | None = None
    text: str | None = None
    score: float
    source_url: str | None
    page_number: int | None
    heading_path: Any
    word_count: int | None
    embedding_model: str | None
    created_at: datetime | None
    metadata: dict[str, Any]


class SearchOut(Open):
    success: bool
    query: str
    agent_id: uuid.UUID
    results: list[SearchResultOut]
    total_results: int = Field(ge=0)
    search_type: Literal["hybrid"]
    execution_time: float
    execution_time_ms: float
