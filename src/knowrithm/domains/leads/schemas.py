"""Lead request bodies and the Lead object the clients read."""
from __future__ import annotations

import uuid
from datetime import datetime

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from knowrithm.infra.db import iso, sid
from knowrithm.infra.parsing import UuidText
from knowrithm.infra.responses import Open, Pagination

STATUSES = ("new", "contacted", "qualified", "converted", "lost")
LeadStatus = Literal["new", "contacted", "qualified", "converted", "lost"]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")

    @field_validator("email", mode="before", check_fields=False)
    @classmethod
    def _strip_email(cls, value):
        return value.strip() if isinstance(value, str) else value

    @field_validator("phone", mode="before", check_fields=False)
    @classmethod
    def _empty_phone(cls, value):
        # The widget sends "" when the visitor leaves the phone empty.
        return (value.strip() or None) if isinstance(value, str) else value


class LeadRegisterIn(_Lenient):
    agent_id: UuidText = Field(min_length=1)
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    email: EmailStr = Field(max_length=255)
    phone: str | None = Field(None, max_length=20)
    source: str | None = Field(None, max_length=100)
    notes: str | None = Field(None, max_length=5000)
    consent_data_processing: bool = True
    consent_marketing: bool = False


class LeadRefreshIn(_Lenient):
    refresh_token: str | None = Field(None, max_length=4096)


class LeadOut(Open):
    """`lead_out`: a lead as every route returns it."""

    id: uuid.UUID
    company_id: uuid.UUID
    company: str | None
    agent_id: uuid.UUID | None
    first_name: str | None
    last_name: str | None
    full_name: str
    email: EmailStr
    phone: str | None
    source: str | None
    notes: str | None
    status: LeadStatus
    consent_data_processing: bool
    consent_marketing: bool
    is_active: bool
    tags: list[Any]
    metadata: dict[str, Any]
    last_activity: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    deleted_at: datetime | None


class LeadSessionOut(BaseModel):
    """Tokens of one visitor session (`session_id`), with the lead they belong to."""

    model_config = ConfigDict(extra="allow")
    success: bool
    message: str
    lead: LeadOut
    access_token: str
    refresh_token: str
    token_type: str = Field(pattern="^Bearer$")
    expires_in: int = Field(ge=1)
    expires_at: int
    session_id: uuid.UUID


class LeadCreateIn(_Lenient):
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    email: EmailStr = Field(max_length=255)
    phone: str | None = Field(None, max_length=50)
    source: str | None = Field(None, max_length=100)
    notes: str | None = Field(None, max_length=5000)
    status: str = Field("new", json_schema_extra={"enum": list(STATUSES)})
    agent_id: UuidText | None = None
    consent_data_processing: bool = True
    consent_marketing: bool = False
    company: str | None = Field(None, max_length=200)
    tags: list[str] | None = None
    metadata: dict | None = None
    company_id: UuidText | None = None

    @field_validator("status")
    @classmethod
    def _status(cls, value):
        if value not in STATUSES:
            raise ValueError(f"must be one of {', '.join(STATUSES)}")
        return value


class LeadUpdateIn(_Lenient):
    first_name: str | None = Field(None, min_length=1, max_length=100)
    last_name: str | None = Field(None, min_length=1, max_length=100)
    email: EmailStr | None = Field(None, max_length=255)
    phone: str | None = Field(None, max_length=50)
    source: str | None = Field(None, max_length=100)
    notes: str | None = Field(None, max_length=5000)
    status: str | None = Field(None, json_schema_extra={"enum": list(STATUSES)})
    agent_id: UuidText | None = None
    consent_data_processing: bool | None = None
    consent_marketing: bool | None = None
    is_active: bool | None = None
    company: str | None = Field(None, max_length=200)
    tags: list[str] | None = None
    metadata: dict | None = None

    @field_validator("status")
    @classmethod
    def _status(cls, value):
        if value is not None and value not in STATUSES:
            raise ValueError(f"must be one of {', '.join(STATUSES)}")
        return value


class LeadListQuery(BaseModel):
    model_config = ConfigDict(extra="allow")
    page: int = Field(1, ge=1)
    per_page: int = Field(20, ge=1, le=100)
    status: str | None = Field(None, json_schema_extra={"enum": list(STATUSES)})
    search: str | None = Field(None, max_length=200)
    agent_id: UuidText | None = None
    created_before: datetime | None = None
    created_after: datetime | None = None
    company_id: UuidText | None = None

    @field_validator("status")
    @classmethod
    def _status(cls, value):
        if value and value not in STATUSES:
            raise ValueError(f"must be one of {', '.join(STATUSES)}")
        return value or None


def lead_out(lead, company_name: str | None = None) -> dict:
    meta = lead.extra_metadata or {}
    full = " ".join(p for p in (lead.first_name, lead.last_name) if p) or lead.email
    return {
        "id": sid(lead.id), "company_id": sid(lead.company_id), "company": meta.get("company") or company_name,
        "agent_id": sid(lead.agent_id), "first_name": lead.first_name, "last_name": lead.last_name,
        "full_name": full, "email": lead.email, "phone": lead.phone, "source": lead.source, "notes": lead.notes,
        "status": lead.status, "consent_data_processing": lead.consent_data_processing,
        "consent_marketing": lead.consent_marketing, "is_active": lead.is_active,
        "tags": meta.get("tags", []), "metadata": {k: v for k, v in meta.items() if k not in ("tags", "company")},
        "last_activity": iso(lead.last_activity), "created_at": iso(lead.created_at),
        "updated_at": iso(lead.updated_at), "deleted_at": iso(lead.deleted_at),
    }


class LeadSavedOut(Open):
    """A lead created or updated synchronously (`/sdk/lead`), with the caller's user id."""

    success: bool
    message: str
    lead: LeadOut
    initiated_by: uuid.UUID | None


class LeadDeletedOut(Open):
    success: bool
    message: str
    lead_id: uuid.UUID
    initiated_by: uuid.UUID | None


class LeadPage(BaseModel):
    leads: list[LeadOut]
    pagination: Pagination


class LeadListOut(Open):
    success: bool
    data: LeadPage
    leads: list[LeadOut]
    pagination: Pagination


class LeadGetOut(Open):
    success: bool
    lead: LeadOut
