"""Website sources and crawling (the widget handshake lives in `widget`)."""
from __future__ import annotations

from knowrithm.infra.api import ApiBlueprint
from knowrithm.infra.auth import READ, WRITE, acting_company_id
from knowrithm.infra.tasks import accepted_body

from . import service
from .schemas import (CrawlAcceptedOut, CrawlIn, CrawlQueuedOut, PageListOut, PagesQuery, SourceDeletedOut,
                      SourceGetOut, SourceIn, SourceListOut, SourceListQuery, SourceSavedOut, SourceUpdate, page_out,
                      source_out, sources_listing_out)

bp = ApiBlueprint("websites", __name__, tag="websites")


@bp.post("/website/source", auth=WRITE, body=SourceIn, status=201, response=SourceSavedOut,
         summary="Register a website to crawl")
def register_source(body: SourceIn):
    source = service.register_source(company_id=acting_company_id(), data=body)
    return {"message": "Website source registered", "website_source": source_out(source)}


@bp.get("/website/source", auth=READ, query=SourceListQuery, response=SourceListOut, summary="List website sources")
def list_sources(query: SourceListQuery):
    return sources_listing_out(*service.list_sources(agent_id=query.agent_id, status=query.status, page=query.page,
                                          per_page=query.per_page))


@bp.get("/website/agent/<agent_id>/sources", auth=READ, response=SourceListOut,
        summary="List an agent's website sources")
def agent_sources(agent_id: str):
    return sources_listing_out(*service.list_sources(agent_id=agent_id, per_page=100))


@bp.get("/website/source/<source_id>/pages", auth=READ, query=PagesQuery, response=PageListOut,
        summary="Pages of a website source")
def list_pages(source_id: str, query: PagesQuery):
    source, pages, meta = service.list_pages(source_id, page=query.page, per_page=query.per_page)
    return {"website_source": source_out(source), "pages": [page_out(p) for p in pages], "pagination": meta}


@bp.put("/website/source/<source_id>", auth=WRITE, body=SourceUpdate, response=SourceSavedOut,
        summary="Update a website source")
def update_source(source_id: str, body: SourceUpdate):
    return {"message": "Website source updated", "website_source": source_out(service.update_source(source_id, body))}


@bp.delete(["/website/source/<source_id>", "/sdk/website/source/<source_id>"], auth=WRITE,
           response=SourceDeletedOut,
           summary="Delete a website source and its knowledge")
def delete_source(source_id: str):
    return service.delete_source(source_id)


@bp.post("/sdk/website/source/<source_id>/crawl", auth=WRITE, body=CrawlIn, status=202, response=CrawlAcceptedOut,
         summary="Crawl a website source now (queued; poll the task)")
def crawl_sdk(source_id: str, body: CrawlIn):
    return _crawl_accepted(*service.queue_crawl(source_id, company_id=acting_company_id(), max_pages=body.max_pages))


@bp.post("/website/source/<source_id>/crawl", auth=WRITE, body=CrawlIn, status=202, response=CrawlQueuedOut,
         summary="Crawl a website source now (queued; poll the task)")
def crawl(source_id: str, body: CrawlIn):
    ack = _crawl_accepted(*service.queue_crawl(source_id, company_id=acting_company_id(), max_pages=body.max_pages))
    return {**ack, "status": "queued"}


def _crawl_accepted(record, source) -> dict:
    return accepted_body(record, message="Crawl queued.", estimated_time=30, website_source_id=str(source.id))


@bp.get("/website/<source_id>", auth=READ, response=SourceGetOut, summary="Get a website source")
def get_source(source_id: str):
    return {"website_source": source_out(service.get_source(source_id))}
