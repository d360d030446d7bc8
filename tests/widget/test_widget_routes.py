"""Widget bundle (H1), test page (H2) and handshake (M6) through knowrithm-py."""
import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError

from tests.widget.helpers import make_agent


@pytest.mark.parametrize("path", ["/widget.js", "/api/widget.js", "/api/v1/widget.js", "/v1/widget.js"])
def test_widget_bundle_served_at_every_prefix(http, path):
    resp = http.get(path, headers={"X-API-Key": "ak_stale", "X-API-Secret": "as_stale"})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/javascript")
    assert "AIChatWidget" in resp.text and "/lead/register" in resp.text and "attachShadow" in resp.text


def test_sdk_fetches_the_widget_script(sdk_factory):
    script = sdk_factory().agents.fetch_widget_script()
    assert isinstance(script, str) and "ai-agent-widget::" in script


@pytest.mark.parametrize("path", ["/test", "/api/v1/test", "/v1/test"])
def test_test_page_hosts_the_widget(http, path):
    resp = http.post(path, json={"body": "<h1 id='x'>Hello QA</h1>", "agent_id": "abc</script><script>alert(1)"})
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
    assert "<h1 id='x'>Hello QA</h1>" in resp.text and "/api/widget.js" in resp.text
    assert "</script><script>alert(1)" not in resp.text  # the config is escaped


def test_sdk_renders_the_test_page(sdk_factory, app, companies):
    agent_id = make_agent(app, companies[0])
    page = sdk_factory().agents.render_test_page(f"<div data-agent='{agent_id}'>QA</div>")
    assert isinstance(page, str) and "QA</div>" in page and "widget.js" in page


def test_handshake_records_the_host_page(app, companies, sdk_factory, sdk_a, http):
    agent_id = make_agent(app, companies[0])
    visitor = sdk_factory()
    first = visitor.websites.handshake(str(agent_id), "https://shop.example.com/pricing?utm=x#top",
                                       title="Pricing", trigger_crawl=False)
    assert first["website_source"]["base_url"] == "https://shop.example.com/"
    assert first["website_source"]["agent_id"] == str(agent_id)
    assert first["website_page"]["canonical_url"] == "https://shop.example.com/pricing"
    assert first["website_page"]["title"] == "Pricing" and first["crawl_task_id"] is None
    again = visitor.websites.handshake(str(agent_id), "https://shop.example.com/pricing", title="Pricing v2")
    assert again["website_source"]["id"] == first["website_source"]["id"]
    assert again["website_page"]["id"] == first["website_page"]["id"]
    assert again["website_page"]["metadata"]["widget_views"] == 2

    from knowrithm.domains.websites.models import WebsiteSource
    from knowrithm.infra.db import db
    from sqlalchemy import select

    with app.app_context():
        rows = db.session.execute(select(WebsiteSource).execution_options(all_companies=True)).scalars().all()
        assert [(r.company_id, r.base_url) for r in rows] == [(companies[0].company_id, "https://shop.example.com/")]
        db.session.remove()
    # The same site registered by hand is the same source, not a second one.
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.websites.register_source({"agent_id": str(agent_id), "base_url": "https://SHOP.example.com"})
    assert err.value.status_code == 409


def test_handshake_can_queue_one_crawl_of_the_site(app, companies, sdk_factory):
    agent_id = make_agent(app, companies[0])
    visitor = sdk_factory()
    first = visitor.websites.handshake(str(agent_id), "http://127.0.0.1:9/a", trigger_crawl=True)
    assert first["crawl_task_id"]
    again = visitor.websites.handshake(str(agent_id), "http://127.0.0.1:9/b", trigger_crawl=True)
    assert again["crawl_task_id"] is None  # crawled recently: anonymous callers cannot queue crawl after crawl


def test_handshake_bad_input(app, companies, http, sdk_factory):
    agent_id = make_agent(app, companies[0])
    resp = http.post("/api/v1/website/handshake", json={"agent_id": str(agent_id), "url": "javascript:alert(1)"})
    assert resp.status_code == 400 and "url" in resp.json()["details"]
    resp = http.post("/api/v1/website/handshake", json={"url": "https://a.example"})
    assert resp.status_code == 400 and "agent_id" in resp.json()["details"]
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_factory().websites.handshake("00000000-0000-0000-0000-000000000000", "https://a.example/")
    assert err.value.status_code == 404


def test_cors_preflight_for_widget_routes(http):
    resp = http.options("/api/v1/lead/register", headers={"Origin": "http://localhost:9999",
                                                          "Access-Control-Request-Method": "POST",
                                                          "Access-Control-Request-Headers": "content-type"})
    assert resp.status_code in (200, 204)
    assert resp.headers["Access-Control-Allow-Origin"] == "http://localhost:9999"
    assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]
