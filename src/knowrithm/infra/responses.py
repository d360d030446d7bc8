"""Response shapes shared by every domain, for the OpenAPI document: the open envelope base,
the `pagination` block, the 202 answer of a queued task and a free-form fallback.

Envelopes are open (`extra="allow"`): the SDK reads the keys declared here, and aliases kept for
older clients (`data` next to `users`, ...) stay allowed without being promised."""
from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class MessageOut(Open):
    message: str


class Pagination(BaseModel):
    page: int = Field(ge=1)
    per_page: int = Field(ge=1)
    total: int = Field(ge=0)
    pages: int = Field(ge=0)
    has_next: bool
    has_prev: bool


class TaskAccepted(Open):
    """What `infra.tasks.accepted_body` answers: poll `status_url` for the outcome."""

    status: Literal["accepted"]
    task_id: uuid.UUID
    status_url: str
    message: str
    estimated_time: int = Field(ge=0)


def free_form(*required: str, **properties: dict) -> dict[str, Any]:
    """A JSON object whose keys are only partly fixed (reports, figures): the keys always present."""
    schema: dict[str, Any] = {"type": "object", "required": list(required)}
    if properties:
        schema["properties"] = properties
    return schema


class TaskStatusOut(Open):
    """`infra.tasks.status_body`: a completed task's result keys are copied to the top level too."""

    task_id: uuid.UUID
    state: str
    status: Literal["pending", "processing", "completed", "failed"]
    result: Any = None
    progress: float | None = None
    error: str | None = None
    # A failed task's text; a completed one may carry its own `message` (a chat answer's message object).
    message: Any = None
    error_code: str | None = None
