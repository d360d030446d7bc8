"""Website sources: registration, listing, crawling and removal of their knowledge."""
from __future__ import annotations

import io
import uuid
from datetime import timedelta
from urllib.parse import urlparse

from flask import current_app
from sqlalchemy import select, update

from knowrithm.domains.agents.models import Agent
from knowrithm.domains.documents.models import Document, DocumentChunk
from knowrithm.domains.documents.tasks import process_document
from knowrithm.infra.db import db, utcnow
from knowrithm.infra.errors import Conflict, NotFound, ValidationFailed
from knowrithm.infra.pagination import paginate
from knowrithm.infra.parsing import parse_uuid
from knowrithm.infra.tasks import TaskRecord, enqueue
from knowrithm.infra.tenancy import get_or_404
from knowrithm.integrations.crawler import CrawledPage, CrawlRules, crawl, normalise_url
from knowrithm.integrations.storage import get_storage

from . import tasks
from .models import STALE_CRAWL, WebsitePage, WebsiteSource
from .schemas import SourceIn, SourceUpdate


def _checked_url(url: str, field: str = "base_url") -> str:
    parts = urlparse(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed("Invalid URL", details={field: [f"must be an http(s) URL, got {url!r}"]})
    return normalise_url(url)


def _agent(agent_id) -> Agent:
    return get_or_404(Agent, agent_id, what="Agent")


def register_source(*, company_id: uuid.UUID, data: SourceIn) -> WebsiteSource:
    agent = _agent(data.agent_id)
    base_url = _checked_url(data.base_url)
    existing = db.session.execute(
        select(WebsiteSource).where(WebsiteSource.agent_id == agent.id, WebsiteSource.base_url == base_url)
        .execution_options(include_deleted=True)
    ).scalar_one_or_none()
    if existing is not None and existing.deleted_at is None:
        raise Conflict("This website is already registered for the agent", code="WEBSITE_SOURCE_EXISTS",
                       details={"website_source_id": str(existing.id)})
    source = existing or WebsiteSource(company_id=company_id, agent_id=agent.id, base_url=base_url)
    source.deleted_at = None
    source.domain = urlparse(base_url).hostname or ""
    source.seed_urls = [_checked_url(u, "seed_urls") for u in data.seed_urls] or [base_url]
    source.allowed_paths, source.disallowed_paths = data.allowed_paths, data.disallowed_paths
    source.max_pages, source.max_depth = data.max_pages, data.max_depth
    source.crawl_frequency_minutes, source.notes = data.crawl_frequency_minutes, data.notes
    source.is_active, source.last_crawl_status = True, "inactive"
    db.session.add(source)
    db.session.commit()
    return source


def list_sources(*, agent_id=None, status=None, page=1, per_page=20) -> tuple[list, dict]:
    stmt = select(WebsiteSource).order_by(WebsiteSource.created_at.desc())
    if agent_id:
        stmt = stmt.where(WebsiteSource.agent_id == _agent(agent_id).id)
    if status:
        stmt = stmt.where(WebsiteSource.last_crawl_status == status)
    return paginate(stmt, page, per_page)


def get_source(source_id) -> WebsiteSource:
    return get_or_404(WebsiteSource, source_id, what="Website source")


def list_pages(source_id, *, page=1, per_page=100) -> tuple[WebsiteSource, list, dict]:
    source = get_source(source_id)
    stmt = select(WebsitePage).where(WebsitePage.website_source_id == source.id).order_by(WebsitePage.canonical_url)
    items, meta = paginate(stmt, page, per_page, max_per_page=500)
    return source, items, meta


def update_source(source_id, data: SourceUpdate) -> WebsiteSource:
    source = get_source(source_id)
    fields = data.model_dump(exclude_unset=True)
    url = fields.pop("base_url", None) or fields.pop("url", None)
    fields.pop("url", None)
    if url:
        source.base_url = _checked_url(url)
        source.domain = urlparse(source.base_url).hostname or ""
    if "seed_urls" in fields:
        fields["seed_urls"] = [_checked_url(u, "seed_urls") for u in fields["seed_urls"] or []]
    for key, value in fields.items():
        if hasattr(source, key) and value is not None:
            setattr(source, key, value)
    db.session.commit()
    return source


def delete_source(source_id) -> dict:
    """Soft-deletes the source and removes its pages' knowledge from search at once."""
    source = db.session.execute(
        select(WebsiteSource).where(WebsiteSource.id == parse_uuid(source_id, not_found="Website source not found"))
        .execution_options(include_deleted=True)
    ).scalar_one_or_none()
    if source is None:
        raise NotFound("Website source not found")
    if source.deleted_at is not None:
        return {"status": "already_inactive", "website_source_id": str(source.id),
                "message": "Website source was already deleted"}
    now = utcnow()
    doc_ids = select(WebsitePage.document_id).where(WebsitePage.website_source_id == source.id,
                                                    WebsitePage.document_id.is_not(None))
    db.session.execute(update(DocumentChunk).where(DocumentChunk.document_id.in_(doc_ids),
                                                   DocumentChunk.deleted_at.is_(None)).values(deleted_at=now))
    db.session.execute(update(Document).where(Document.id.in_(doc_ids), Document.deleted_at.is_(None))
                       .values(deleted_at=now))
    source.deleted_at, source.is_active = now, False
    db.session.commit()
    return {"status": "deleted", "website_source_id": str(source.id), "message": "Website source deleted"}


def record_host_page(*, agent: Agent, url: str, title: str | None) -> tuple[WebsiteSource, WebsitePage]:
    """The widget handshake: one source per (agent, site origin), one page per URL, counted views.
    Sources share `register_source`'s URL normalisation, so a site registered by hand and the
    same site seen by the widget are one source."""
    parts = urlparse(_checked_url(url, "url"))
    page_url = parts._replace(query="").geturl()  # host pages are keyed without tracking parameters
    origin = normalise_url(f"{parts.scheme}://{parts.netloc}/")
    source = db.session.execute(
        select(WebsiteSource).where(WebsiteSource.agent_id == agent.id, WebsiteSource.base_url == origin)
        .execution_options(include_deleted=True)
    ).scalar_one_or_none()
    if source is None:
        source = WebsiteSource(company_id=agent.company_id, agent_id=agent.id, domain=parts.hostname or "",
                               base_url=origin, seed_urls=[origin], notes="Registered by the widget handshake")
        db.session.add(source)
        db.session.flush()
    page = db.session.execute(
        select(WebsitePage).where(WebsitePage.website_source_id == source.id, WebsitePage.canonical_url == page_url)
        .execution_options(include_deleted=True)
    ).scalar_one_or_none()
    if page is None:
        page = WebsitePage(company_id=source.company_id, website_source_id=source.id, agent_id=source.agent_id,
                           canonical_url=page_url, path=parts.path or "/", extra_metadata={})
        db.session.add(page)
    if title:
        page.title = title[:500]
    meta = dict(page.extra_metadata or {})
    meta["last_widget_seen_at"] = utcnow().isoformat()
    meta["widget_views"] = int(meta.get("widget_views", 0)) + 1
    page.extra_metadata = meta
    db.session.flush()
    return source, page


def crawl_if_stale(source: WebsiteSource, *, min_age_minutes: int = 60) -> str | None:
    """Queues a crawl of a widget-discovered site unless one ran recently (the handshake is public)."""
    recent = source.last_crawl_started_at and source.last_crawl_started_at > utcnow() - timedelta(minutes=min_age_minutes)
    if source.deleted_at is not None or not source.is_active or source.last_crawl_status == "crawling" or recent:
        return None
    source.last_crawl_started_at = utcnow()
    record = enqueue(tasks.crawl_source, company_id=source.company_id, commit=False, source_id=str(source.id))
    return str(record.id)


def queue_crawl(source_id, *, company_id, max_pages: int | None = None) -> tuple[TaskRecord, WebsiteSource]:
    source = get_source(source_id)
    if not source.is_active:
        raise ValidationFailed("Website source is inactive", code="WEBSITE_SOURCE_INACTIVE")
    record = enqueue(tasks.crawl_source, company_id=company_id, source_id=str(source.id), max_pages=max_pages)
    return record, source


# --- crawling (runs in the worker) ---------------------------------------------------------

def run_crawl(source_id: str, *, max_pages: int | None = None, on_progress=None) -> dict:
    """`on_progress(percent)` after each page: pages fetched out of the page budget (the crawl
    cannot know how many pages the site has), held under 100 until the crawl is done."""
    settings = current_app.config["SETTINGS"]
    source = get_source(source_id)
    source.last_crawl_status, source.last_crawl_started_at, source.last_error = "crawling", utcnow(), None
    db.session.commit()
    rules = CrawlRules(max_pages=max_pages or source.max_pages, max_depth=source.max_depth,
                       allowed_paths=source.allowed_paths or [], disallowed_paths=source.disallowed_paths or [],
                       max_bytes=settings.MAX_FILE_SIZE, allow_private=settings.ALLOW_PRIVATE_URLS)
    processed, discovered, failures, to_index = 0, [], [], []
    try:
        for seen, page in enumerate(crawl(source.seed_urls or [source.base_url], rules), start=1):
            row = _record_page(source, page)
            if page.error:
                failures.append({"url": page.url, "error": page.error})
            elif not page.excluded:
                processed += 1
                discovered.extend(page.links)
                if row is not None:
                    to_index.append(row)
            db.session.commit()
            if on_progress is not None:
                on_progress(min(95, int(100 * seen / max(rules.max_pages, 1))))
    except Exception as exc:
        db.session.rollback()
        source = get_source(source_id)
        source.last_crawl_status, source.last_error = "failed", str(exc)[:2000]
        db.session.commit()
        raise
    document_ids = [str(_document_for(source, row)) for row in to_index]
    source.last_crawl_status, source.last_crawl_completed_at = "active", utcnow()
    db.session.commit()
    _queue_indexing(document_ids, source.company_id)
    return {"status": "completed", "website_source_id": str(source.id), "processed_pages": processed,
            "discovered_urls": sorted(set(discovered)), "failures": failures,
            "indexed_pages": len(document_ids)}


def _record_page(source: WebsiteSource, page: CrawledPage) -> WebsitePage | None:
    """Upserts the page row; returns it when its content changed and must be (re)indexed."""
    row = db.session.execute(
        select(WebsitePage).where(WebsitePage.website_source_id == source.id,
                                  WebsitePage.canonical_url == page.url)
    ).scalar_one_or_none()
    if row is None:
        row = WebsitePage(company_id=source.company_id, agent_id=source.agent_id, website_source_id=source.id,
                          canonical_url=page.url, path=urlparse(page.url).path)
        db.session.add(row)
    row.last_crawled_at = utcnow()
    if page.excluded:
        row.last_crawl_status = "excluded"
        return None
    if page.error:
        row.last_crawl_status, row.extra_metadata = "failed", {**(row.extra_metadata or {}), "error": page.error}
        return None
    changed = page.content_hash != row.content_hash
    row.last_crawl_status, row.last_http_status = "crawled", page.status
    row.title = page.title or row.title
    row.content_hash, row.content_length = page.content_hash, len(page.content)
    if source.crawl_frequency_minutes:
        row.next_crawl_at = utcnow() + timedelta(minutes=source.crawl_frequency_minutes)
    if changed and page.content:
        key = f"{source.company_id}/websites/{source.id}/{row.canonical_url.encode().hex()[:120]}.html"
        stored = get_storage(current_app.config["SETTINGS"]).save(key, io.BytesIO(page.content))
        row.raw_storage_path = stored.key
        return row
    return None


def _document_for(source: WebsiteSource, row: WebsitePage) -> uuid.UUID:
    """The page's document, created or reset to `pending` so the pipeline re-indexes it."""
    doc = db.session.get(Document, row.document_id) if row.document_id else None
    if doc is None:
        doc = Document(company_id=source.company_id, agent_id=source.agent_id, website_page_id=row.id,
                       original_filename=row.canonical_url[:500], filename=row.canonical_url[:500],
                       document_type="html", mime_type="text/html", source_url=row.canonical_url)
        db.session.add(doc)
    doc.deleted_at = None
    doc.title = (row.title or row.canonical_url)[:500]
    doc.storage_path, doc.file_size, doc.content_hash = row.raw_storage_path, row.content_length or 0, row.content_hash
    doc.status, doc.processing_error, doc.progress = "pending", None, 0
    doc.extra_metadata = {**(doc.extra_metadata or {}), "source": "website", "website_source_id": str(source.id)}
    db.session.flush()
    row.document_id = doc.id
    return doc.id


def _queue_indexing(document_ids: list[str], company_id) -> None:
    for document_id in document_ids:
        enqueue(process_document, company_id=company_id, commit=False, document_id=document_id)
    db.session.commit()


def due_sources() -> list[tuple[str, str]]:
    """Active sources whose crawl frequency has elapsed (for the beat schedule)."""
    now = utcnow()
    rows = db.session.execute(
        select(WebsiteSource).where(WebsiteSource.is_active.is_(True),
                                    WebsiteSource.crawl_frequency_minutes.is_not(None))
        .execution_options(all_companies=True)
    ).scalars()
    due = []
    for s in rows:
        if s.last_crawl_status == "crawling" and s.last_crawl_started_at \
                and s.last_crawl_started_at > now - timedelta(seconds=STALE_CRAWL):
            continue  # still running
        last = s.last_crawl_completed_at or s.created_at
        if last + timedelta(minutes=s.crawl_frequency_minutes) <= now:
            due.append((str(s.id), str(s.company_id)))
    return due
