"""Website source and crawl request bodies, and the source/page shapes the clients read."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from knowrithm.infra.db import iso, sid
from knowrithm.infra.parsing import UuidText
from knowrithm.infra.responses import Open, Pagination, TaskAccepted


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    agent_id: UuidText
    base_url: str | None = Field(None, description="Site root to crawl (`url` is accepted as an alias)")
    url: str | None = None
    seed_urls: list[str] = []
    allowed_paths: list[str] = []
    disallowed_paths: list[str] = []
    crawl_frequency_minutes: int | None = Field(None, ge=5, le=60 * 24 * 90)
    max_pages: int = Field(50, ge=1, le=5000)
    max_depth: int = Field(2, ge=0, le=10)
    notes: str | None = None

    @model_validator(mode="after")
    def _url_alias(self):
        self.base_url = self.base_url or self.url
        if not self.base_url:
            raise ValueError("base_url (or url) is required")
        return self


class SourceUpdate(BaseModel):
    model_config = ConfigDict(extra="allow")
    base_url: str | None = None
    url: str | None = None
    seed_urls: list[str] | None = None
    allowed_paths: list[str] | None = None
    disallowed_paths: list[str] | None = None
    crawl_frequency_minutes: int | None = Field(None, ge=5, le=60 * 24 * 90)
    max_pages: int | None = Field(None, ge=1, le=5000)
    max_depth: int | None = Field(None, ge=0, le=10)
    notes: str | None = None
    is_active: bool | None = None


class SourceListQuery(BaseModel):
    agent_id: UuidText | None = None
    status: str | None = None
    page: int = Field(1, ge=1)
    per_page: int = Field(20, ge=1, le=100)


class PagesQuery(BaseModel):
    page: int = Field(1, ge=1)
    per_page: int = Field(100, ge=1, le=500)


class CrawlIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    max_pages: int | None = Field(None, ge=1, le=5000)


def source_out(s) -> dict:
    return {
        "id": sid(s.id), "company_id": sid(s.company_id), "agent_id": sid(s.agent_id), "domain": s.domain,
        "base_url": s.base_url, "url": s.base_url, "seed_urls": s.seed_urls or [],
        "allowed_paths": s.allowed_paths or [], "disallowed_paths": s.disallowed_paths or [],
        "crawl_config": s.crawl_config or {}, "max_depth": s.max_depth, "max_pages": s.max_pages,
        "crawl_frequency_minutes": s.crawl_frequency_minutes,
        "last_crawl_started_at": iso(s.last_crawl_started_at),
        "last_crawl_completed_at": iso(s.last_crawl_completed_at),
        "last_crawl_status": s.last_crawl_status, "status": s.last_crawl_status, "last_error": s.last_error,
        "notes": s.notes, "is_active": s.is_active, "created_at": iso(s.created_at), "updated_at": iso(s.updated_at),
        "deleted_at": iso(s.deleted_at),
    }


def page_out(p) -> dict:
    return {
        "id": sid(p.id), "website_source_id": sid(p.website_source_id), "agent_id": sid(p.agent_id),
        "canonical_url": p.canonical_url, "url": p.canonical_url, "path": p.path, "title": p.title,
        "last_crawled_at": iso(p.last_crawled_at), "last_crawl_status": p.last_crawl_status,
        "last_http_status": p.last_http_status, "content_hash": p.content_hash, "checksum": p.content_hash,
        "content_length": p.content_length, "language": p.language, "next_crawl_at": iso(p.next_crawl_at),
        "change_frequency_minutes": p.change_frequency_minutes, "raw_storage_path": p.raw_storage_path,
        "document_id": sid(p.document_id), "metadata": p.extra_metadata or {},
        "created_at": iso(p.created_at), "updated_at": iso(p.updated_at),
    }


class SourceOut(Open):
    """`source_out`: `status` mirrors `last_crawl_status`, `url` mirrors `base_url`."""

    id: uuid.UUID
    company_id: uuid.UUID
    agent_id: uuid.UUID | None
    domain: str | None
    base_url: str
    url: str
    seed_urls: list[str]
    allowed_paths: list[str]
    disallowed_paths: list[str]
    crawl_config: dict[str, Any]
    max_depth: int | None
    max_pages: int | None
    crawl_frequency_minutes: int | None
    last_crawl_started_at: datetime | None
    last_crawl_completed_at: datetime | None
    last_crawl_status: str | None
    status: str | None
    last_error: str | None
    notes: str | None
    is_active: bool
    created_at: datetime | None
    updated_at: datetime | None
    deleted_at: datetime | None


class PageOut(Open):
    id: uuid.UUID
    website_source_id: uuid.UUID
    agent_id: uuid.UUID | None
    canonical_url: str
    url: str
    path: str | None
    title: str | None
    last_crawled_at: datetime | None
    last_crawl_status: str | None
    last_http_status: int | None
    content_hash: str | None
    checksum: str | None
    content_length: int | None
    language: str | None
    next_crawl_at: datetime | None
    change_frequency_minutes: int | None
    raw_storage_path: str | None
    document_id: uuid.UUID | None
    metadata: dict[str, Any]
    created_at: datetime | None
    updated_at: datetime | None


class SourceSavedOut(Open):
    message: str
    website_source: SourceOut


class SourceGetOut(Open):
    website_source: SourceOut


class SourceListOut(Open):
    website_sources: list[SourceOut]
    sources: list[SourceOut]
    pagination: Pagination


class PageListOut(Open):
    website_source: SourceOut
    pages: list[PageOut]
    pagination: Pagination


class SourceDeletedOut(Open):
    status: Literal["deleted", "already_inactive"]
    website_source_id: uuid.UUID
    message: str


class CrawlAcceptedOut(TaskAccepted):
    website_source_id: uuid.UUID


class CrawlQueuedOut(CrawlAcceptedOut):
    """The CLI's crawl route reads `status: queued`."""

    status: Literal["queued"]  # type: ignore[assignment]


def sources_listing_out(items, meta) -> dict:
    sources = [source_out(s) for s in items]
    return {"website_sources": sources, "sources": sources, "pagination": meta}
