"""Crawl tasks (queue `slow` by name prefix) and the periodic re-crawl scheduler."""
from __future__ import annotations

from celery import shared_task

from knowrithm.infra.tasks import enqueue
from knowrithm.infra.db import db

from . import service
from .models import STALE_CRAWL


@shared_task(bind=True, name="knowrithm.websites.crawl_source", acks_late=True, soft_time_limit=3600,
             time_limit=STALE_CRAWL)
def crawl_source(self, source_id: str, max_pages: int | None = None, company_id: str | None = None) -> dict:
    """Crawl a source, upsert its pages and queue indexing of the pages whose content changed."""
    return service.run_crawl(source_id, max_pages=max_pages, on_progress=self.report_progress)


@shared_task(name="knowrithm.maintenance.schedule_website_crawls")
def schedule_website_crawls() -> dict:
    due = service.due_sources()
    for source_id, company_id in due:
        enqueue(crawl_source, company_id=company_id, commit=False, source_id=source_id)
    db.session.commit()
    return {"queued": len(due)}
