from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from knowrithm.infra.db import iso, sid


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    agent_id: str
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
    agent_id: str | None = None
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
