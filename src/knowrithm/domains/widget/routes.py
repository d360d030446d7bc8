"""The embeddable widget: its bundle, its test page and the handshake."""
from __future__ import annotations

from pathlib import Path

from flask import Response, request

from knowrithm.infra.api import ApiBlueprint
from knowrithm.infra.auth import PUBLIC, attribute_request

from . import service
from knowrithm.domains.websites.schemas import page_out, source_out

from .schemas import HandshakeIn, HandshakeOut, TestPageIn

bp = ApiBlueprint("widget", __name__, tag="widget")

WIDGET_JS = Path(__file__).resolve().parents[2] / "static" / "widget.js"


@bp.get("/widget.js", auth=PUBLIC, widget=True, media_type="application/javascript",
        summary="The embeddable chat widget (JavaScript)")
def widget_js():
    resp = Response(WIDGET_JS.read_bytes(), mimetype="application/javascript")
    resp.headers["Content-Type"] = "application/javascript; charset=utf-8"
    resp.headers["Cache-Control"] = "public, max-age=300"
    resp.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return resp


@bp.post("/test", auth=PUBLIC, widget=True, media_type="text/html", body=TestPageIn,
         summary="An HTML page hosting the widget (QA)")
def test_page_post(body: TestPageIn):
    return _test_page(body)


@bp.get("/test", auth=PUBLIC, widget=True, media_type="text/html", query=TestPageIn,
        summary="An HTML page hosting the widget for ?agent_id=")
def test_page_get(query: TestPageIn):
    return _test_page(query)


def _test_page(data: TestPageIn) -> Response:
    root = request.host_url.rstrip("/")
    page = service.test_page(body=data.body, agent_id=data.agent_id, api_url=data.api_url or f"{root}/api/v1",
                             script_url=f"{root}/api/widget.js")
    resp = Response(page, mimetype="text/html")
    # The snippet is caller-supplied HTML: run it in a sandbox (opaque origin) so it can never act
    # with this API origin's storage or cookies. The widget itself works there (CORS echoes "null").
    resp.headers["Content-Security-Policy"] = "sandbox allow-scripts allow-forms allow-popups allow-modals"
    return resp


@bp.post("/website/handshake", auth=PUBLIC, widget=True, body=HandshakeIn, response=HandshakeOut,
         summary="The widget declares the page it is embedded in (recorded as a website source and page)")
def website_handshake(body: HandshakeIn):
    source, page, crawl_task_id = service.handshake(agent_id=body.agent_id, url=body.url, title=body.title,
                                                    trigger_crawl=body.trigger_crawl,
                                                    origin=request.headers.get("Origin"))
    attribute_request(source.company_id)
    return {"website_source": source_out(source), "website_page": page_out(page), "crawl_task_id": crawl_task_id}
