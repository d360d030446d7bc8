"""Company request models and the Company object the clients read."""
from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field, field_validator

from knowrithm.domains.auth.schemas import EMAIL, CompanyBriefOut
from knowrithm.domains.geography.models import Address
from knowrithm.domains.geography.schemas import AddressOut, address_out
from knowrithm.infra.db import db, iso, sid
from knowrithm.infra.pagination import page_meta
from knowrithm.infra.parsing import EmailText, single_spaced
from knowrithm.infra.responses import Open, Pagination


def _email(value: str | None) -> str | None:
    if value is None:
        return value
    value = value.strip().lower()
    if not EMAIL.match(value):
        raise ValueError("must be a valid email address")
    return value


class _CompanyFields(BaseModel):
    model_config = ConfigDict(extra="allow")
    phone: str | None = Field(None, max_length=50)
    address_id: int | None = Field(None, ge=1)
    logo: str | None = Field(None, max_length=500)  # a URL in JSON; multipart sends a file instead
    website: str | None = Field(None, max_length=500)
    industry: str | None = Field(None, max_length=120)


class CompanyCreateIn(_CompanyFields):
    name: str = Field(min_length=1, max_length=200)
    email: EmailText = Field(max_length=255)

    _check_name = field_validator("name")(single_spaced)
    _check_email = field_validator("email")(_email)


class CompanyUpdateIn(_CompanyFields):
    name: str | None = Field(None, min_length=1, max_length=200)
    email: EmailText | None = Field(None, max_length=255)

    _check_name = field_validator("name")(single_spaced)
    _check_email = field_validator("email")(_email)


UPDATABLE = ("name", "email", "phone", "address_id", "logo", "website", "industry")


class CompanyIdsIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    company_ids: list[uuid.UUID] = Field(min_length=1, max_length=100)


class CascadeIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    delete_related: bool | None = None


class StatsQuery(BaseModel):
    model_config = ConfigDict(extra="allow")
    days: int = Field(30, ge=1, le=3650)
    company_id: uuid.UUID | None = None  # super admins, on `/company/statistics`


class CompanyQuery(BaseModel):
    model_config = ConfigDict(extra="allow")
    company_id: uuid.UUID | None = None


class CompanyListQuery(BaseModel):
    model_config = ConfigDict(extra="allow")
    page: int = Field(1, ge=1)
    per_page: int = Field(20, ge=1, le=100)
    status: str | None = Field(None, pattern="^(active|inactive|suspended|deleted)$")
    search: str | None = Field(None, max_length=200)


def company_out(company) -> dict:
    address = db.session.get(Address, company.address_id) if company.address_id else None
    return {
        "id": sid(company.id), "name": company.name, "email": company.email, "phone": company.phone,
        "logo": company.logo, "website": company.website, "industry": company.industry,
        "address_id": company.address_id, "address": address_out(address) if address else None,
        "status": "deleted" if company.deleted_at else company.status,
        "is_active": company.is_active and company.deleted_at is None, "is_verified": company.is_verified,
        "created_at": iso(company.created_at), "updated_at": iso(company.updated_at),
        "deleted_at": iso(company.deleted_at),
    }


def statistics_out(company, statistics: dict) -> dict:
    return {"success": True, "company_id": str(company.id), "statistics": statistics}


class CompanyOut(CompanyBriefOut):
    """`company_out`: the identity routes' keys with the address; `status` reads `deleted` once
    the company is soft-deleted."""

    address_id: int | None
    address: AddressOut | None


class CompanyFlatOut(CompanyOut):
    """The company's keys at the top level and again under `company`."""

    company: CompanyOut


class CompanyPagination(Pagination):
    current_page: int
    total_items: int
    total_pages: int
    next_page: int | None
    prev_page: int | None


class CompanyListOut(Open):
    success: bool
    companies: list[CompanyOut]
    data: list[CompanyOut]
    pagination: CompanyPagination


class CompanyStatisticsOut(Open):
    success: bool
    company_id: uuid.UUID
    statistics: dict[str, int | float]


class DeletedCompaniesOut(Open):
    success: bool
    deleted_companies: list[CompanyOut]
    companies: list[CompanyOut]
    data: list[CompanyOut]
    total: int = Field(ge=0)


class RelatedDataOut(Open):
    success: bool
    company_id: uuid.UUID
    company_name: str
    related_data: dict[str, int]
    counts: dict[str, int]
    total_related_records: int = Field(ge=0)


def listing_pagination(page: int, per_page: int, total: int) -> dict:
    """Both key sets: the usual one and the original super-admin listing's (docs/api-compatibility.md)."""
    meta = page_meta(page, per_page, total)
    pages = meta["pages"]
    return {**meta, "current_page": page, "total_items": total, "total_pages": pages,
            "next_page": page + 1 if page < pages else None, "prev_page": page - 1 if page > 1 else None}
