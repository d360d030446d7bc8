"""Website sources (what to crawl for an agent) and the pages a crawl found."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from knowrithm.infra.db import Base, SoftDelete, TenantOwned, Timestamps, UUIDPk

# A crawl "crawling" longer than the crawl task's hard time limit died with its worker (seconds).
STALE_CRAWL = 3700


class WebsiteSource(UUIDPk, Timestamps, SoftDelete, TenantOwned, Base):
    __tablename__ = "website_sources"
    __table_args__ = (UniqueConstraint("agent_id", "base_url", name="uq_website_sources_agent_url"),)

    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agents.id", ondelete="CASCADE"), index=True,
                                                nullable=False)
    domain: Mapped[str] = mapped_column(String(255), nullable=False)
    base_url: Mapped[str] = mapped_column(Text, nullable=False)
    seed_urls: Mapped[list] = mapped_column(JSON, default=list, nullable=False)
    allowed_paths: Mapped[list] = mapped_column(JSON, default=list, nullable=False)
    disallowed_paths: Mapped[list] = mapped_column(JSON, default=list, nullable=False)
    crawl_config: Mapped[dict] = mapped_column(JSON, default=dict, nullable=False)
    max_depth: Mapped[int] = mapped_column(Integer, default=2, nullable=False)
    max_pages: Mapped[int] = mapped_column(Integer, default=50, nullable=False)
    crawl_frequency_minutes: Mapped[int | None] = mapped_column(Integer)
    last_crawl_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_crawl_completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_crawl_status: Mapped[str] = mapped_column(String(20), default="inactive", nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)


class WebsitePage(UUIDPk, Timestamps, SoftDelete, TenantOwned, Base):
    __tablename__ = "website_pages"
    __table_args__ = (UniqueConstraint("website_source_id", "canonical_url", name="uq_website_pages_source_url"),)

    website_source_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("website_sources.id", ondelete="CASCADE"),
                                                         index=True, nullable=False)
    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True, nullable=False)
    canonical_url: Mapped[str] = mapped_column(Text, nullable=False)
    path: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    last_crawled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_crawl_status: Mapped[str] = mapped_column(String(20), default="pending", nullable=False)
    last_http_status: Mapped[int | None] = mapped_column(Integer)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    content_length: Mapped[int | None] = mapped_column(Integer)
    language: Mapped[str | None] = mapped_column(String(16))
    next_crawl_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    change_frequency_minutes: Mapped[int | None] = mapped_column(Integer)
    raw_storage_path: Mapped[str | None] = mapped_column(Text)
    document_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    extra_metadata: Mapped[dict] = mapped_column("metadata", JSON, default=dict, nullable=False)
