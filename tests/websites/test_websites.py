"""Website sources and crawling against a real site on loopback."""
import threading
import uuid

import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

PAGES = {
    "/": "<html><head><title>Home</title></head><body><h1>Welcome to Zephyr Bikes</h1>"
         "<a href='/about'>About</a> <a href='/docs/warranty'>Warranty</a> <a href='/private/admin'>x</a>"
         "<a href='https://elsewhere.example/'>out</a> <a href='/about#team'>team</a></body></html>",
    "/about": "<html><head><title>About us</title></head><body><p>Zephyr Bikes was founded in 1987 in Lyon.</p>"
              "<a href='/'>home</a><a href='/docs/deep'>deep</a></body></html>",
    "/docs/warranty": "<html><head><title>Warranty</title></head><body><h2>Warranty</h2>"
                      "<p>Every frame carries a lifetime warranty against manufacturing defects.</p></body></html>",
    "/docs/deep": "<html><body><p>Too deep for depth 1.</p></body></html>",
    "/private/admin": "<html><body>secret</body></html>",
    "/robots.txt": "User-agent: *\nDisallow: /private/\n",
}


@pytest.fixture
def site():
    hits = []

    @Request.application
    def app(request):
        hits.append(request.path)
        body = PAGES.get(request.path)
        if body is None:
            return Response("not found", status=404)
        kind = {".txt": "text/plain", ".xml": "application/xml"}.get(request.path[-4:], "text/html")
        return Response(body, mimetype=kind)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()


def test_register_crawl_and_list_pages(sdk_a, site, agent_ids, celery_worker):
    base, hits = site
    created = sdk_a.websites.register_source({"agent_id": agent_ids[0], "base_url": base + "/", "max_depth": 1,
                                              "max_pages": 10})
    source = created["website_source"]
    assert source["base_url"] == base + "/" and source["status"] == "inactive"

    result = sdk_a.websites.trigger_crawl(source["id"])  # 202 + the SDK's own task polling
    assert result["status"] == "completed" and result["website_source_id"] == source["id"]
    assert result["processed_pages"] == 3, result  # /, /about, /docs/warranty (depth 1); robots keeps /private out
    assert "/private/admin" not in hits and "/docs/deep" not in hits
    assert result["failures"] == []

    pages = sdk_a.websites.list_source_pages(source["id"])
    by_url = {p["canonical_url"]: p for p in pages["pages"]}
    assert by_url[base + "/about"]["title"] == "About us"
    assert by_url[base + "/about"]["last_crawl_status"] == "crawled"
    assert by_url[base + "/private/admin"]["last_crawl_status"] == "excluded"
    assert all(p["document_id"] for p in pages["pages"] if p["last_crawl_status"] == "crawled")
    assert pages["website_source"]["last_crawl_status"] == "active"

    listed = sdk_a.websites.list_sources(agent_id=agent_ids[0])
    assert [s["id"] for s in listed["website_sources"]] == [source["id"]] == [s["id"] for s in listed["sources"]]


def test_recrawl_only_reindexes_changed_pages(app, sdk_a, site, agent_ids, celery_worker):
    base, _ = site
    source = sdk_a.websites.register_source({"agent_id": agent_ids[0], "base_url": base, "max_depth": 1})
    first = sdk_a.websites.trigger_crawl(source["website_source"]["id"])
    assert first["indexed_pages"] == 3
    PAGES["/about"] = PAGES["/about"].replace("1987", "1988")
    try:
        second = sdk_a.websites.trigger_crawl(source["website_source"]["id"])
    finally:
        PAGES["/about"] = PAGES["/about"].replace("1988", "1987")
    assert second["processed_pages"] == 3 and second["indexed_pages"] == 1


def test_delete_source_removes_its_documents(app, sdk_a, site, agent_ids, celery_worker):
    from sqlalchemy import select

    from knowrithm.domains.documents.models import Document
    from knowrithm.infra.db import db

    base, _ = site
    source_id = sdk_a.websites.register_source({"agent_id": agent_ids[0], "base_url": base,
                                                "max_depth": 0})["website_source"]["id"]
    sdk_a.websites.trigger_crawl(source_id)
    deleted = sdk_a.websites.delete_source(source_id)
    assert deleted == {"status": "deleted", "website_source_id": source_id, "message": "Website source deleted"}
    assert sdk_a.websites.delete_source(source_id)["status"] == "already_inactive"
    with app.app_context():
        docs = db.session.execute(select(Document).execution_options(include_deleted=True,
                                                                      all_companies=True)).scalars().all()
        assert docs and all(d.deleted_at is not None for d in docs)
        db.session.remove()
    assert sdk_a.websites.list_sources()["website_sources"] == []


def test_bad_input(sdk_a, agent_ids, site):
    base, _ = site
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.websites.register_source({"agent_id": agent_ids[0], "base_url": "ftp://nope"})
    assert err.value.status_code == 400 and "base_url" in err.value.response_data["details"]
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.websites.register_source({"agent_id": agent_ids[0]})
    assert err.value.status_code == 400
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.websites.register_source({"agent_id": str(uuid.uuid4()), "base_url": base})
    assert err.value.status_code == 404
    sdk_a.websites.register_source({"agent_id": agent_ids[0], "base_url": base})
    with pytest.raises(KnowrithmAPIError) as err:  # docs spell it `url`
        sdk_a.websites.register_source({"agent_id": agent_ids[0], "url": base})
    assert err.value.status_code == 409


def test_other_company_gets_404_and_changes_nothing(sdk_a, sdk_b, site, agent_ids):
    base, _ = site
    source_id = sdk_a.websites.register_source({"agent_id": agent_ids[0], "base_url": base})["website_source"]["id"]
    for call in (lambda: sdk_b.websites.list_source_pages(source_id),
                 lambda: sdk_b.websites.trigger_crawl(source_id),
                 lambda: sdk_b.websites.delete_source(source_id),
                 lambda: sdk_b.websites.register_source({"agent_id": agent_ids[0], "base_url": base + "/x"})):
        with pytest.raises(KnowrithmAPIError) as err:
            call()
        assert err.value.status_code == 404
    assert sdk_b.websites.list_sources()["website_sources"] == []
    assert [s["id"] for s in sdk_a.websites.list_sources()["website_sources"]] == [source_id]


def test_read_key_cannot_register(sdk_for, companies, agent_ids, site):
    reader = sdk_for(companies[0], scopes=("read",))
    with pytest.raises(KnowrithmAPIError) as err:
        reader.websites.register_source({"agent_id": agent_ids[0], "base_url": site[0]})
    assert err.value.status_code == 403
    assert reader.websites.list_sources()["website_sources"] == []


def test_crawled_pages_become_searchable_knowledge(sdk_a, site, agent_ids, celery_worker):
    import time

    base, _ = site
    source_id = sdk_a.websites.register_source({"agent_id": agent_ids[0], "base_url": base,
                                                "max_depth": 1})["website_source"]["id"]
    sdk_a.websites.trigger_crawl(source_id)
    deadline = time.time() + 60
    while time.time() < deadline:
        docs = sdk_a.documents.list_documents()["documents"]
        if len(docs) == 3 and all(d["status"] in ("processed", "failed") for d in docs):
            break
        time.sleep(0.3)
    assert {d["status"] for d in docs} == {"processed"}, docs
    hits = sdk_a.analytics.search_documents("Is there a warranty on the frame?", agent_ids[0])
    assert hits["results"][0]["source_url"] == base + "/docs/warranty"
    assert "lifetime warranty" in hits["results"][0]["content"]


def test_sitemap_pages_are_crawled_beyond_the_depth_budget(sdk_a, site, agent_ids, celery_worker):
    base, hits = site
    PAGES["/sitemap.xml"] = ('<?xml version="1.0" encoding="UTF-8"?>'
                             '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                             f"<url><loc>{base}/docs/deep</loc></url><url><loc>{base}/about</loc></url></urlset>")
    try:
        source_id = sdk_a.websites.register_source({"agent_id": agent_ids[0], "base_url": base,
                                                    "max_depth": 0})["website_source"]["id"]
        result = sdk_a.websites.trigger_crawl(source_id)
    finally:
        del PAGES["/sitemap.xml"]
    # depth 0 alone would fetch only "/"; the sitemap adds /docs/deep and /about
    assert result["processed_pages"] == 3, result
    assert "/docs/deep" in hits and "/docs/warranty" not in hits


def test_crawler_refuses_private_addresses_by_default(app, sdk_a, site, agent_ids, celery_worker, monkeypatch):
    monkeypatch.setattr(app.config["SETTINGS"], "ALLOW_PRIVATE_URLS", False)  # the production default
    base, hits = site
    source_id = sdk_a.websites.register_source({"agent_id": agent_ids[0], "base_url": base})["website_source"]["id"]
    result = sdk_a.websites.trigger_crawl(source_id)
    assert result["processed_pages"] == 0 and result["indexed_pages"] == 0
    assert result["failures"] and all("non-public" in f["error"] for f in result["failures"]), result
    assert hits == []  # not even robots.txt or the sitemap was requested


def test_beat_recrawls_sources_whose_frequency_has_elapsed(app, sdk_a, site, agent_ids, celery_worker):
    """`crawl_frequency_minutes` is honoured by the beat task: a due source is crawled again (a
    changed page re-indexed), one crawled recently or without a frequency is left alone, and a
    crawl whose worker died (stuck "crawling") is picked up again once it is stale."""
    import time
    from datetime import timedelta

    from sqlalchemy import update

    from knowrithm.domains.websites import tasks
    from knowrithm.domains.websites.models import WebsiteSource
    from knowrithm.infra.db import db, utcnow
    from knowrithm.worker import BEAT_SCHEDULE

    assert any(e["task"] == tasks.schedule_website_crawls.name for e in BEAT_SCHEDULE.values())
    base, hits = site
    due_id = sdk_a.websites.register_source({"agent_id": agent_ids[0], "base_url": base, "max_depth": 1,
                                             "crawl_frequency_minutes": 60})["website_source"]["id"]
    manual_id = sdk_a.websites.register_source({"agent_id": agent_ids[0], "base_url": base + "/about",
                                                "max_depth": 0})["website_source"]["id"]
    sdk_a.websites.trigger_crawl(due_id)
    sdk_a.websites.trigger_crawl(manual_id)

    def state():
        listed = sdk_a.websites.list_source_pages(due_id)
        return listed["website_source"], {p["canonical_url"]: p for p in listed["pages"]}

    before, pages_before = state()
    with app.app_context():
        assert tasks.schedule_website_crawls.run() == {"queued": 0}  # just crawled: not due
        db.session.execute(update(WebsiteSource).where(WebsiteSource.id == uuid.UUID(due_id))
                           .values(last_crawl_completed_at=utcnow() - timedelta(minutes=61)))
        db.session.commit()
        db.session.remove()

    PAGES["/about"] = PAGES["/about"].replace("1987", "1989")
    try:
        with app.app_context():
            assert tasks.schedule_website_crawls.run() == {"queued": 1}  # on the worker, through the queue
            db.session.remove()
        deadline = time.time() + 60
        while time.time() < deadline:
            after, pages_after = state()
            if after["last_crawl_status"] == "active" and \
                    after["last_crawl_completed_at"] > before["last_crawl_completed_at"]:
                break
            time.sleep(0.3)
    finally:
        PAGES["/about"] = PAGES["/about"].replace("1989", "1987")
    assert after["last_crawl_completed_at"] > before["last_crawl_completed_at"], after
    about, warranty = base + "/about", base + "/docs/warranty"
    assert pages_after[about]["content_hash"] != pages_before[about]["content_hash"]  # changed: re-indexed
    assert pages_after[warranty]["content_hash"] == pages_before[warranty]["content_hash"]
    assert pages_after[warranty]["last_crawled_at"] > pages_before[warranty]["last_crawled_at"]
    manual = next(s for s in sdk_a.websites.list_sources()["website_sources"] if s["id"] == manual_id)
    assert manual["crawl_frequency_minutes"] is None  # never scheduled

    with app.app_context():
        # A crawl stuck in "crawling" is left alone while it may still run, picked up once stale.
        stuck = update(WebsiteSource).where(WebsiteSource.id == uuid.UUID(due_id))
        db.session.execute(stuck.values(last_crawl_status="crawling", last_crawl_started_at=utcnow(),
                                        last_crawl_completed_at=utcnow() - timedelta(hours=2)))
        db.session.commit()
        from knowrithm.domains.websites.service import STALE_CRAWL, due_sources

        assert due_sources() == []
        db.session.execute(stuck.values(last_crawl_started_at=utcnow() - timedelta(seconds=STALE_CRAWL + 1)))
        db.session.commit()
        assert due_sources() == [(due_id, str(db.session.get(WebsiteSource, uuid.UUID(due_id)).company_id))]
        db.session.remove()


def test_a_crawl_reports_its_progress_page_by_page(app, sdk_a, site, agent_ids):
    from knowrithm.domains.websites.service import run_crawl
    from knowrithm.infra.tenancy import company_scope

    base, _ = site
    source = sdk_a.websites.register_source({"agent_id": agent_ids[0], "base_url": base + "/", "max_depth": 1,
                                             "max_pages": 10})["website_source"]
    progress: list[int] = []
    with app.app_context(), company_scope(source["company_id"]):
        result = run_crawl(source["id"], on_progress=progress.append)
    pages = result["processed_pages"]
    assert pages == 3 and len(progress) >= pages  # one report per fetched page (excluded ones too)
    assert progress == sorted(progress) and progress[0] == 10 and 0 < progress[-1] <= 95
