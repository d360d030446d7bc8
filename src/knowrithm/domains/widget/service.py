"""The widget's host-page handshake and its test page."""
from __future__ import annotations

import html
import json

from sqlalchemy.exc import IntegrityError

from knowrithm.domains.websites import service as websites
from knowrithm.domains.websites.models import WebsitePage, WebsiteSource
from knowrithm.infra import ratelimit
from knowrithm.infra.db import db
from knowrithm.infra.tenancy import company_scope

from . import embed

HANDSHAKE_RATE = "5/second"


def handshake(*, agent_id: str, url: str, title: str | None, trigger_crawl: bool = False,
              origin: str | None = None) -> tuple[WebsiteSource, WebsitePage, str | None]:
    """Record the page hosting the widget (and optionally queue a crawl of its site)."""
    agent = embed.public_agent(agent_id)
    embed.check_origin(agent, origin)
    ratelimit.check("handshake", str(agent.company_id), HANDSHAKE_RATE)
    with company_scope(agent.company_id):
        for attempt in range(2):  # a concurrent first handshake may win the insert; then re-read
            try:
                source, page = websites.record_host_page(agent=agent, url=url, title=title)
                crawl_task_id = websites.crawl_if_stale(source) if trigger_crawl else None
                db.session.commit()
                return source, page, crawl_task_id
            except IntegrityError:
                db.session.rollback()
                if attempt:
                    raise
    raise AssertionError("unreachable")


TEST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Knowrithm widget test page</title>
<style>body{{font-family:system-ui,sans-serif;max-width:720px;margin:40px auto;padding:0 16px;color:#222}}</style>
</head><body>
{body}
{config}
<script src="{script}" async></script>
</body></html>"""


def test_page(*, body: str | None, agent_id: str | None, api_url: str | None, script_url: str) -> str:
    """A page hosting the widget. The snippet is the caller's own HTML (a QA tool, public by contract),
    served as is; the widget configuration is escaped."""
    config = ""
    if agent_id or api_url:
        cfg = {k: v for k, v in {"agentId": agent_id, "apiUrl": api_url}.items() if v}
        # json.dumps + escaping "<" keeps a hostile value from closing the script element.
        config = "<script>window.AIChatWidget = Object.assign(window.AIChatWidget || {}, " \
                 + json.dumps(cfg).replace("<", "\\u003c") + ");</script>"
    snippet = body if body is not None else "<h1>Widget test page</h1><p>The chat button is in the corner.</p>"
    return TEST_PAGE.format(body=snippet, config=config, script=html.escape(script_url))
