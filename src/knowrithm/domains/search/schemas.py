"""Request shapes of the search routes (CONTRACT §2.12)."""
from __future__ import annotations

import uuid

from pydantic import BaseModel, Field, field_validator

from knowrithm.infra.parsing import parse_bool


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
