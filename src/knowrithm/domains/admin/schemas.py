"""Administration request models and output shapes."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from knowrithm.domains.auth.schemas import TokenPairOut, UserOut
from knowrithm.infra.db import iso, sid
from knowrithm.infra.responses import Open, Pagination

USER_STATUSES = ("active", "inactive", "suspended", "pending_verification")
ROLES = ("super_admin", "admin", "user")
RISK_LEVELS = ("low", "medium", "high", "critical")
SORT_FIELDS = ("created_at", "updated_at", "last_login", "email", "username", "first_name", "last_name",
               "login_attempts")
CONFIG_TYPES = ("string", "integer", "float", "boolean", "json", "list")
HIGH_LOGIN_ATTEMPTS = 5  # SW's default threshold; the SDKs send a boolean meaning "use it"


def _utc(value: datetime | None) -> datetime | None:
    """Dates without a zone are taken as UTC (what every client means by an ISO date)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


class _Query(BaseModel):
    model_config = ConfigDict(extra="allow")


class UserListQuery(_Query):
    page: int = Field(1, ge=1)
    per_page: int = Field(50, ge=1, le=200)
    status: str | None = Field(None, pattern=f"^({'|'.join(USER_STATUSES)})$")
    role: str | None = Field(None, pattern=f"^({'|'.join(ROLES)})$")
    email_verified: bool | None = None
    two_factor_enabled: bool | None = None
    never_logged_in: bool | None = None
    locked: bool | None = None
    include_deleted: bool = False
    only_deleted: bool = False
    search: str | None = Field(None, max_length=200)
    created_after: datetime | None = None
    created_before: datetime | None = None
    last_login_after: datetime | None = None
    last_login_before: datetime | None = None
    high_login_attempts: int | None = Field(None, ge=1)
    timezone: str | None = Field(None, max_length=64)
    language: str | None = Field(None, max_length=16)
    sort_by: str = Field("created_at", pattern=f"^({'|'.join(SORT_FIELDS)})$")
    sort_order: str = Field("desc", pattern="^(asc|desc)$")
    company_id: uuid.UUID | None = None  # super admins on `/admin/user`

    _zones = field_validator("created_after", "created_before", "last_login_after", "last_login_before")(_utc)

    @field_validator("high_login_attempts", mode="before")
    @classmethod
    def _threshold(cls, value: Any) -> Any:
        """SW: an integer threshold. Py/TS: a boolean; true means the default threshold, false no filter."""
        text = str(value).strip().lower() if value is not None else None
        if value is True or text in ("true", "yes", "on"):
            return HIGH_LOGIN_ATTEMPTS
        if value is False or text in ("false", "no", "off", ""):
            return None
        return value

    def applied(self) -> dict:
        """The filters that actually narrowed the list, echoed back as `filters_applied`."""
        skip = {"page", "per_page", "sort_by", "sort_order"}
        out = {k: v for k, v in self.model_dump(mode="json", include=set(type(self).model_fields)).items()
               if k not in skip and v not in (None, False)}
        return {**out, "sort_by": self.sort_by, "sort_order": self.sort_order}


class AuditQuery(_Query):
    entity_type: str | None = Field(None, max_length=60)
    event_type: str | None = Field(None, max_length=60)
    action: str | None = Field(None, max_length=60)  # CLI name for event_type (prefix match)
    risk_level: str | None = Field(None, pattern=f"^({'|'.join(RISK_LEVELS)})$")
    user_id: uuid.UUID | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    limit: int | None = Field(None, ge=1, le=500)
    offset: int | None = Field(None, ge=0)
    page: int | None = Field(None, ge=1)
    per_page: int | None = Field(None, ge=1, le=500)
    company_id: uuid.UUID | None = None  # super admins

    _zones = field_validator("start_date", "end_date")(_utc)

    def window(self) -> tuple[int, int]:
        """(limit, offset): limit/offset win; else page/per_page; default the first 50."""
        limit = self.limit or self.per_page or 50
        if self.offset is not None:
            return limit, self.offset
        return limit, ((self.page or 1) - 1) * limit


class MetricsQuery(_Query):
    company_id: uuid.UUID | None = None  # super admins on `/admin/system-metric`


class ConfigIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    config_key: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.:\-]+$")
    config_value: Any = Field(...)
    config_type: str | None = Field(None, pattern=f"^({'|'.join(CONFIG_TYPES)})$")
    description: str | None = Field(None, max_length=2000)
    is_sensitive: bool | None = None
    company_id: uuid.UUID | None = None  # super admins: set one company's override

    @model_validator(mode="after")
    def _value_matches_type(self):
        self.config_type = self.config_type or infer_type(self.config_value)
        if not value_fits(self.config_value, self.config_type):
            raise ValueError(f"config_value does not match config_type {self.config_type!r}")
        return self


def infer_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "json"
    return "string"


def value_fits(value: Any, config_type: str) -> bool:
    if value is None:
        return True
    return {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "list": lambda v: isinstance(v, list),
        "json": lambda v: True,
    }[config_type](value)


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    status: str = Field(pattern=f"^({'|'.join(USER_STATUSES)})$")
    reason: str | None = Field(None, max_length=500)


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str = Field(pattern=f"^({'|'.join(ROLES)})$")


# --- output ---------------------------------------------------------------------------

HIDDEN = "********"


def config_out(row, *, reveal: bool) -> dict:
    value = row.config_value if (reveal or not row.is_sensitive) else HIDDEN
    return {"id": sid(row.id), "config_key": row.config_key, "config_value": value, "config_type": row.config_type,
            "description": row.description, "is_sensitive": row.is_sensitive,
            "scope": "company" if row.company_id else "platform", "company_id": sid(row.company_id),
            "value_hidden": value == HIDDEN and row.is_sensitive and not reveal,
            "updated_by": sid(row.updated_by), "created_at": iso(row.created_at), "updated_at": iso(row.updated_at)}


def audit_out(row) -> dict:
    """One audit entry with the alternate key names the CLI table reads."""
    return {"id": sid(row.id), "timestamp": iso(row.created_at), "created_at": iso(row.created_at),
            "event_type": row.event_type, "action": row.event_type, "event_category": row.event_category,
            "entity_type": row.entity_type, "entity_id": row.entity_id, "description": row.description,
            "message": row.description, "risk_level": row.risk_level, "company_id": sid(row.company_id),
            "user_id": sid(row.user_id), "impersonator_id": sid(row.impersonator_id),
            "api_key_id": sid(row.api_key_id), "user_role": row.user_role, "ip_address": row.ip_address,
            "user_agent": row.user_agent, "request_id": row.request_id, "details": row.details or {}}


class UserListOut(Open):
    success: bool
    users: list[UserOut]
    data: list[UserOut]
    pagination: Pagination
    filters_applied: dict[str, Any]


class UserViewOut(Open):
    success: bool
    message: str
    user: UserOut
    data: UserOut


class MetricsOut(Open):
    """Hourly counters of the last 24 hours (`metrics` by name) with their totals."""

    success: bool
    generated_at: datetime
    company_id: uuid.UUID | None
    window_hours: int
    period: dict[str, datetime]
    metrics: dict[str, list[dict[str, Any]]]
    summary: dict[str, Any]
    system_health: list[dict[str, Any]]


class AuditEntryOut(Open):
    id: uuid.UUID
    timestamp: datetime | None
    created_at: datetime | None
    event_type: str
    action: str
    event_category: str | None
    entity_type: str | None
    entity_id: str | None
    description: str | None
    message: str | None
    risk_level: str | None
    company_id: uuid.UUID | None
    user_id: uuid.UUID | None
    impersonator_id: uuid.UUID | None
    api_key_id: uuid.UUID | None
    user_role: str | None
    ip_address: str | None
    user_agent: str | None
    request_id: str | None
    details: dict[str, Any]


class AuditLogOut(Open):
    success: bool
    logs: list[AuditEntryOut]
    data: list[AuditEntryOut]
    audit_logs: list[AuditEntryOut]
    total: int = Field(ge=0)
    limit: int = Field(ge=1)
    offset: int = Field(ge=0)
    page: int = Field(ge=1)
    per_page: int = Field(ge=1)
    pagination: Pagination


class ConfigEntryOut(Open):
    """`config_out`: sensitive values read `********` unless the caller is a super admin."""

    id: uuid.UUID | None
    config_key: str
    config_value: Any
    config_type: str | None
    description: str | None
    is_sensitive: bool
    scope: Literal["company", "platform"]
    company_id: uuid.UUID | None
    value_hidden: bool
    updated_by: uuid.UUID | None
    created_at: datetime | None
    updated_at: datetime | None


class ConfigListOut(Open):
    success: bool
    config: dict[str, Any]
    configs: list[ConfigEntryOut]
    data: list[ConfigEntryOut]


class ConfigSavedOut(Open):
    success: bool
    message: str
    config: ConfigEntryOut
    data: ConfigEntryOut


class PasswordResetForcedOut(Open):
    success: bool
    message: str
    user_id: uuid.UUID
    email_sent: bool
    must_reset_password: bool


class ImpersonationOut(TokenPairOut):
    success: bool
    message: str
    token: str
    user: UserOut
    impersonated_by: uuid.UUID
    impersonator_id: uuid.UUID
    issued_at: datetime


class UserChangedOut(Open):
    success: bool
    message: str
    user: UserOut
