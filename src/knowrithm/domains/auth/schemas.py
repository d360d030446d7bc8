"""Request bodies of sign-up, login, tokens and API keys, and the user/company shapes they return."""
from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from knowrithm.infra.db import iso, sid
from knowrithm.infra.parsing import EmailText
from knowrithm.infra.responses import MessageOut, Open

SCOPES = ("read", "write", "update", "delete", "admin", "full_access")
Role = Literal["user", "admin", "super_admin"]
UserStatus = Literal["active", "inactive", "suspended", "pending_verification"]

# Deliberately loose: the address is proven by the verification mail, and email-validator
# would refuse reserved test domains (`.test`, `.local`) that private installs use.
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]+$")
USERNAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


class Input(BaseModel):
    """Request bodies of the identity routes: unknown keys tolerated (NUL characters are
    refused for every route in `infra.api.parse_model`)."""

    model_config = ConfigDict(extra="allow")


def _email(value: str) -> str:
    value = value.strip().lower()
    if not EMAIL.match(value):
        raise ValueError("must be a valid email address")
    return value


class LoginIn(Input):
    email: str = Field(min_length=3, max_length=255)
    password: str = Field(min_length=1, max_length=512)


class RefreshIn(Input):
    refresh_token: str | None = None


class NewUserIn(Input):
    """Shared by public registration and admin-created users."""

    email: EmailText = Field(max_length=255)
    username: str | None = Field(None, min_length=3, max_length=50)
    # Length and strength are checked in the service so all password problems come together.
    password: str = Field(max_length=512)
    first_name: str | None = Field(None, max_length=100)
    last_name: str | None = Field(None, max_length=100)
    company_id: uuid.UUID | None = None

    _check_email = field_validator("email")(_email)

    @field_validator("username")
    @classmethod
    def _check_username(cls, value: str | None) -> str | None:
        if value is not None and not USERNAME.match(value):
            raise ValueError("may contain only letters, digits, '_', '.' and '-'")
        return value


class RegisterIn(NewUserIn):
    company_name: str | None = Field(None, max_length=200)
    accept_terms: bool | None = None

    @field_validator("company_name")
    @classmethod
    def _named(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value.strip() if value else value


class CreateUserIn(NewUserIn):
    role: str = Field("user", pattern="^(user|admin)$")


class EmailIn(Input):
    email: EmailText = Field(max_length=255)

    _check_email = field_validator("email")(_email)


class TokenIn(Input):
    token: str = Field(min_length=1, max_length=4096)


class ResetPasswordIn(TokenIn):
    password: str = Field(max_length=512)


class ApiKeyIn(Input):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] | None = Field(None, json_schema_extra={"items": {"enum": list(SCOPES)}})
    # Refused unless empty (400 PERMISSIONS_UNSUPPORTED): narrow a key with its scopes.
    permissions: dict | None = Field(None, json_schema_extra={"maxProperties": 0})
    expires_in_days: int | None = Field(None, ge=1, le=365)
    rate_limit_per_hour: int | None = Field(None, ge=1, le=1_000_000)
    rate_limit_per_day: int | None = Field(None, ge=1, le=10_000_000)
    company_id: uuid.UUID | None = None


class TokenPairOut(BaseModel):
    """A bearer token pair, as login, refresh and registration answer it."""

    model_config = ConfigDict(extra="allow")
    access_token: str
    refresh_token: str
    token_type: str = Field(pattern="^Bearer$")
    expires_in: int = Field(ge=1)
    expires_at: int


class UserOut(Open):
    """`user_out`: a user as every route returns it (never the password hash)."""

    id: uuid.UUID
    company_id: uuid.UUID | None
    username: str | None
    email: EmailStr
    first_name: str | None
    last_name: str | None
    role: Role
    status: UserStatus
    email_verified: bool
    two_factor_enabled: bool
    last_login: datetime | None
    login_attempts: int
    timezone: str | None
    language: str | None
    preferences: dict[str, Any]
    created_at: datetime | None
    updated_at: datetime | None


class CompanyBriefOut(Open):
    """`company_brief`: the company keys identity routes return."""

    id: uuid.UUID
    name: str
    email: EmailStr | None
    phone: str | None
    logo: str | None
    website: str | None
    industry: str | None
    status: str
    is_active: bool
    is_verified: bool
    created_at: datetime | None
    updated_at: datetime | None
    deleted_at: datetime | None


class LoginOut(TokenPairOut):
    message: str
    user: UserOut
    tokens: TokenPairOut
    password_reset_required: bool


class RefreshOut(TokenPairOut):
    message: str
    user: UserOut


class RegisterOut(TokenPairOut):
    message: str
    user: UserOut
    company: CompanyBriefOut | None


class SuperAdminExistsOut(Open):
    message: str
    exists: bool


class UserMessageOut(MessageOut):
    user: UserOut


class MeOut(Open):
    user: UserOut
    company: CompanyBriefOut | None


class ApiKeyOut(Open):
    """`api_key_out`: a key without its secret."""

    id: uuid.UUID
    name: str
    key_prefix: str
    scopes: list[str]
    permissions: dict[str, Any] | None
    status: Literal["active", "revoked", "expired"]
    rate_limit_per_hour: int | None
    rate_limit_per_day: int | None
    usage_count: int | None
    last_used_at: datetime | None
    expires_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None


class ApiKeyCreatedOut(MessageOut):
    api_key: str
    api_secret: str
    secret: str
    details: ApiKeyOut


class ApiKeyListOut(Open):
    api_keys: list[ApiKeyOut]
    total: int = Field(ge=0)


class ApiKeyRevokedOut(MessageOut):
    api_key_id: uuid.UUID


class CredentialsOut(Open):
    """`/auth/validate`: `api_key_info`, `scopes` and `rate_limits` only when a key was used,
    `token` only for a JWT."""

    valid: bool
    auth_type: Literal["api_key", "jwt"]
    user: UserOut
    company: CompanyBriefOut | None
    role: str
    metadata: dict[str, Any]
    api_key_info: ApiKeyOut | None = None
    scopes: list[str] | None = None
    rate_limits: dict[str, int | None] | None = None
    token: dict[str, Any] | None = None


def user_out(user) -> dict:
    return {
        "id": sid(user.id), "company_id": sid(user.company_id), "username": user.username, "email": user.email,
        "first_name": user.first_name, "last_name": user.last_name, "role": user.role, "status": user.status,
        "email_verified": user.email_verified, "two_factor_enabled": user.two_factor_enabled,
        "last_login": iso(user.last_login), "login_attempts": user.login_attempts,
        "timezone": user.timezone, "language": user.language, "preferences": user.preferences or {},
        "created_at": iso(user.created_at), "updated_at": iso(user.updated_at),
    }


def company_brief(company) -> dict | None:
    """The Company keys that `me`/`validate`/registration return."""
    if company is None:
        return None
    return {
        "id": sid(company.id), "name": company.name, "email": company.email, "phone": company.phone,
        "logo": company.logo, "website": company.website, "industry": company.industry,
        "status": company.status, "is_active": company.is_active, "is_verified": company.is_verified,
        "created_at": iso(company.created_at), "updated_at": iso(company.updated_at),
        "deleted_at": iso(company.deleted_at),
    }
