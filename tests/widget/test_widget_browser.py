"""End to end in headless Chromium: a page on one loopback origin embeds the widget served by the
API on another; a visitor registers, asks about an uploaded document and sees the sourced answer."""
from __future__ import annotations

import shutil

import pytest

from tests.documents.conftest import wait_documents
from tests.widget.helpers import make_agent, serve_pages

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (see .ci/run)")

HOST_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Acme shop</title>
<style>button {{ background: red !important; }} div {{ font-size: 40px; }}</style></head>
<body><h1>Acme shop</h1><p>Welcome to our store.</p>
<script>window.AIChatWidget = {{ agentId: "{agent_id}", apiUrl: "{api}/api/v1", primaryColor: "#0f766e",
  behavior: {{ pollingInterval: 500 }}, callbacks: {{ onResponse: function (m) {{ window.lastAnswer = m; }} }} }};</script>
<script src="{api}/api/widget.js" async></script></body></html>"""


@pytest.fixture
def host_site():
    """A customer's site: serves pages on another origin (localhost vs 127.0.0.1, own port)."""
    with serve_pages() as site:
        yield site


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


def test_visitor_gets_a_sourced_answer_in_the_widget(app, companies, sdk_a, live_server, celery_worker, host_site,
                                                     browser, tmp_path):
    agent_id = make_agent(app, companies[0], name="Acme Helper")
    doc = tmp_path / "refund-policy.md"
    doc.write_text("# Refund policy\n\nRefunds are processed within five business days after we receive the "
                   "returned item. Shipping costs are not refunded.\n")
    uploaded = sdk_a.documents.upload_documents(str(agent_id), file_paths=[doc])
    docs = wait_documents(sdk_a, [d["id"] for d in uploaded["documents"]])
    assert all(d["status"] == "processed" for d in docs.values())

    pages, origin = host_site
    pages["/shop"] = HOST_PAGE.format(agent_id=agent_id, api=live_server)
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{origin}/shop")

    page.click("#knowrithm-chat-widget .launcher")
    page.wait_for_selector("#knowrithm-chat-widget form.lead")
    assert "Acme Helper" in page.inner_text("#knowrithm-chat-widget .head")
    # The host page's `button { background: red !important }` does not reach into the widget.
    launcher_bg = page.eval_on_selector("#knowrithm-chat-widget form.lead button",
                                        "b => getComputedStyle(b).backgroundColor")
    assert launcher_bg == "rgb(15, 118, 110)"
    page.fill("#knowrithm-chat-widget input[name=first_name]", "Vera")
    page.fill("#knowrithm-chat-widget input[name=last_name]", "Visitor")
    page.fill("#knowrithm-chat-widget input[name=email]", "vera@example.com")
    page.click("#knowrithm-chat-widget form.lead button[type=submit]")
    page.wait_for_selector("#knowrithm-chat-widget form.composer:not([hidden])")

    page.fill("#knowrithm-chat-widget .composer textarea", "How long do refunds take?")
    page.click("#knowrithm-chat-widget .composer button[type=submit]")
    answer = page.wait_for_selector("#knowrithm-chat-widget .msg.assistant[data-id] .sources", timeout=60_000)
    bubble = page.inner_text("#knowrithm-chat-widget .msg.assistant[data-id]")
    shot = tmp_path / "widget-answer.png"
    page.screenshot(path=str(shot))
    print(f"\nwidget screenshot: {shot}")
    assert answer is not None
    source_name = page.evaluate("window.lastAnswer.sources.filter(s => s.cited)[0].document_name")
    assert "five business days" in bubble and "[Source" not in bubble  # citations became footnote marks
    assert source_name in page.inner_text("#knowrithm-chat-widget .msg.assistant[data-id] .sources")
    assert errors == []

    # The lead, the conversation and the handshake are visible to the company.
    leads = sdk_a.leads.list_company_leads()["leads"]
    assert [lead["email"] for lead in leads] == ["vera@example.com"]
    conv = sdk_a.conversations.list_conversations_by_entity(leads[0]["id"], entity_type="lead")["conversations"][0]
    messages = sdk_a.conversations.list_conversation_messages(conv["id"])["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"] and messages[1]["sources"]

    # After an answer the widget asks the visitor to rate the chat; the rating is the satisfaction.
    page.click("#knowrithm-chat-widget .rate button[aria-label='Rate 4 out of 5']")
    page.wait_for_selector("#knowrithm-chat-widget .rate:has-text('Thanks for rating this chat 4/5')")
    rated = sdk_a.conversations.list_conversations_by_entity(leads[0]["id"], entity_type="lead")["conversations"][0]
    assert rated["lead_satisfaction"] == 4.0 and rated["ended_at"]

    # The session survives a reload: history comes back without the lead form.
    page.reload()
    page.click("#knowrithm-chat-widget .launcher")
    page.wait_for_selector("#knowrithm-chat-widget .msg.assistant[data-id]")
    assert page.query_selector("#knowrithm-chat-widget form.lead") is None
    stored = page.evaluate(f"JSON.parse(localStorage.getItem('ai-agent-widget::{agent_id}'))")
    assert stored["conversationId"] == conv["id"] and stored["accessToken"]

    # An access token the API refuses (expired): the widget resumes the same visitor session with
    # its refresh token, so the reload shows the same conversation.
    store_key = f"ai-agent-widget::{agent_id}"
    spoil = """([key, field]) => { const s = JSON.parse(localStorage.getItem(key)); s.accessToken = "expired";
                                  if (field) s[field] = "spoilt"; localStorage.setItem(key, JSON.stringify(s)); }"""
    page.evaluate(spoil, [store_key, None])
    page.reload()
    page.click("#knowrithm-chat-widget .launcher")
    page.wait_for_selector("#knowrithm-chat-widget .msg.assistant[data-id]")
    renewed = page.evaluate(f"JSON.parse(localStorage.getItem('{store_key}'))")
    assert renewed["accessToken"] != "expired" and renewed["conversationId"] == conv["id"]
    assert renewed["refreshToken"] != stored["refreshToken"]  # rotated
    assert len(sdk_a.leads.list_company_leads()["leads"]) == 1  # the same lead, not a new one

    # Neither token works: the widget registers again, which opens a new session that cannot
    # see the earlier conversation; the visitor continues in the chat, not the form.
    page.evaluate(spoil, [store_key, "refreshToken"])
    page.reload()
    page.click("#knowrithm-chat-widget .launcher")
    page.wait_for_selector("#knowrithm-chat-widget form.composer:not([hidden])")
    # The composer can show before the new session is stored and the old conversation dropped.
    page.wait_for_function("""([key, old]) => { const s = JSON.parse(localStorage.getItem(key) || "{}");
                                               return s.accessToken && !old.includes(s.accessToken)
                                                      && !s.conversationId; }""",
                           arg=[store_key, ["expired", renewed["accessToken"]]], timeout=30000)
    fresh = page.evaluate(f"JSON.parse(localStorage.getItem('{store_key}'))")
    assert fresh["accessToken"] not in ("expired", renewed["accessToken"]) and not fresh.get("conversationId")
    assert len(sdk_a.leads.list_company_leads()["leads"]) == 1
    assert errors == []
    context.close()


def test_unknown_agent_shows_a_clear_message(live_server, host_site, browser, companies):
    pages, origin = host_site
    pages["/bad"] = HOST_PAGE.format(agent_id="00000000-0000-0000-0000-000000000000", api=live_server)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{origin}/bad")
    page.click("#knowrithm-chat-widget .launcher")
    text = page.inner_text("#knowrithm-chat-widget .error")
    assert "not available" in text and "not found" in text
    assert page.inner_text("h1") == "Acme shop" and errors == []
