"""Request bodies and answers of the data-lifecycle routes."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from knowrithm.infra.parsing import UuidText
from knowrithm.infra.responses import Open


class CompanyErasureIn(BaseModel):
    confirm: str = Field(description="The id of the company again: an erasure cannot be undone")


class CompanyExportIn(BaseModel):
    company_id: UuidText | None = Field(None, description="A super admin names the company; others export their own")


_DAYS = {"ge": 1, "le": 36500}


class RetentionIn(BaseModel):
    """Days to keep each class; `null` keeps forever; a class left out keeps its current value."""

    model_config = ConfigDict(extra="forbid")

    conversations: int | None = Field(None, description="conversations and their messages", **_DAYS)
    leads: int | None = Field(None, description="leads idle this long are erased with their chats", **_DAYS)
    request_logs: int | None = Field(None, **_DAYS)
    analytics_events: int | None = Field(None, **_DAYS)
    audit_log: int | None = Field(None, description="not below the platform floor", **_DAYS)
    uploaded_files: int | None = Field(None, description="original files; documents stay searchable", **_DAYS)
    task_records: int | None = Field(None, **_DAYS)


class RetentionFloorIn(BaseModel):
    audit_log_floor_days: int = Field(ge=1, le=36500)


class ErasureOut(Open):
    """`erased: false` with a `message` when there was nothing left to erase; otherwise the certificate."""

    success: bool
    erased: bool
    certificate: dict[str, Any] | None = None
    redis_entries_removed: int | None = None
    message: str | None = None


class LeadErasureOut(ErasureOut):
    lead_id: uuid.UUID


class UserErasureOut(ErasureOut):
    user_id: uuid.UUID


class LeadExportOut(Open):
    success: bool
    subject: Literal["lead"]
    exported_at: datetime
    lead: dict[str, Any]
    consents: dict[str, bool]
    conversations: list[dict[str, Any]]


class UserExportOut(Open):
    success: bool
    subject: Literal["user"]
    exported_at: datetime
    user: dict[str, Any]
    api_keys: list[dict[str, Any]]
    activity: list[dict[str, Any]]
    api_requests: list[dict[str, Any]]
    conversations: list[dict[str, Any]]


class RetentionOut(Open):
    """Days per class (`null`: forever): the company's own, the defaults and what applies."""

    success: bool
    company_id: uuid.UUID
    policy: dict[str, int | None]
    defaults: dict[str, int | None]
    effective: dict[str, int | None]
    audit_log_floor_days: int = Field(ge=1)


class RetentionWithRunsOut(RetentionOut):
    runs: list[dict[str, Any]]


class RetentionFloorOut(Open):
    success: bool
    audit_log_floor_days: int = Field(ge=1)
