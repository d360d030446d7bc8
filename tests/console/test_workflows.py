"""The console's workflows end to end in headless Chromium, through the public API only:
sign-up, an agent, a PDF, a cited answer, the widget on another origin, a lead on the board,
the charts. Each saves a screenshot under artifacts/console/."""
from __future__ import annotations

import re
import uuid

import pytest

from tests.console.conftest import requires_chromium
from tests.documents.conftest import wait_documents
from tests.documents.files import pdf
from tests.widget.helpers import make_agent
from tests.widget.test_widget_browser import host_site  # noqa: F401  (fixture)

pytestmark = requires_chromium

REFUND = ("Refund policy\nRefunds are processed within five business days after we receive the returned item.\n"
          "Shipping costs are not refunded.")


def create_agent_via_api(app, live_server, tenant, name: str) -> str:
    """POST /agent with the company's default settings (the SDK's create_agent insists on ids)."""
    import time

    import requests

    from tests.conftest import make_api_key

    key, secret = make_api_key(app, tenant)
    headers = {"X-API-Key": key, "X-API-Secret": secret}
    ack = requests.post(f"{live_server}/api/v1/agent", json={"name": name}, headers=headers, timeout=30).json()
    deadline = time.time() + 60
    while time.time() < deadline:
        status = requests.get(live_server + ack["status_url"], timeout=30).json()
        if status["status"] == "completed":
            return status["result"]["agent"]["id"]
        assert status["status"] != "failed", status
        time.sleep(0.2)
    raise AssertionError("agent creation did not finish")


def _sdk_agent_with_doc(app, tenant, sdk, tmp_path, name="Acme Helper"):
    agent_id = make_agent(app, tenant, name=name)
    doc = tmp_path / "refund-policy.md"
    doc.write_text("# Refund policy\n\n" + REFUND.split("\n", 1)[1] + "\n")
    uploaded = sdk.documents.upload_documents(str(agent_id), file_paths=[doc])
    docs = wait_documents(sdk, [d["id"] for d in uploaded["documents"]])
    assert all(d["status"] == "processed" for d in docs.values())
    return str(agent_id)


def test_a_new_company_signs_up(console, sdk_factory, app):
    page = console.go("/")
    assert page.url.endswith("/app/login")  # `/` is the console, not a JSON 404
    page.get_by_role("link", name="Create a company account").click()
    page.get_by_label("Company name").fill("Zeta Labs")
    page.get_by_label("First name").fill("Zoe")
    page.get_by_label("Last name").fill("Zeta")
    page.get_by_label("Work email").fill("zoe@zeta.test")
    page.get_by_label("Password").fill("abcdefgh")  # long enough for the form, too weak for the API
    page.get_by_role("button", name="Create account").click()
    # The API's validation message is shown in words.
    assert "password" in page.get_by_role("alert").inner_text().lower()
    page.get_by_label("Password").fill("Zeta-Labs-2026")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/app/agents")
    page.wait_for_selector("text=No agents yet")
    assert "Zoe Zeta" in page.inner_text(".topbar")
    console.shot("01-signed-up")

    # Signing out and in again; the session survives a reload.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/app/login")
    console.sign_in("zoe@zeta.test", "Zeta-Labs-2026")
    page.reload()
    page.wait_for_selector("main#main:not(.auth-main)")
    assert console.errors == []


def test_it_creates_and_edits_an_agent(console, companies, sdk_a, celery_worker):
    tenant = companies[0]
    page = console.sign_in(tenant.admin_email, tenant.password)
    console.go("/app/agents")
    page.get_by_role("link", name="New agent").click()
    page.get_by_label("Name").fill("Refund helper")
    page.get_by_label("Description").fill("Answers refund questions")
    # Pickers are filled from the catalog: the offline provider with its extractive model.
    page.get_by_label("Chat provider").select_option(label="Knowrithm Local")
    models = page.get_by_label("Chat model").locator("option").all_inner_texts()
    assert any("xtractive" in m for m in models), models
    page.get_by_role("button", name="Create agent").click()
    page.wait_for_url(re.compile(r".*/app/agents/[0-9a-f-]{36}$"))
    page.wait_for_selector("h1:has-text('Refund helper')")
    agent_id = page.url.rsplit("/", 1)[1]

    page.get_by_label("System prompt").fill("Answer in one short sentence.")
    page.get_by_label("Personality").fill("friendly, concise")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("text=Saved.")
    page.get_by_role("button", name="Test settings").click()
    page.wait_for_selector("text=Settings test:", timeout=60_000)
    console.shot("02-agent-edited")

    agent = next(a for a in sdk_a.agents.list_agents()["agents"] if a["id"] == agent_id)
    assert agent["system_prompt"] == "Answer in one short sentence." and agent["description"] == "Answers refund questions"
    assert agent["personality_traits"] == ["friendly", "concise"]
    assert console.errors == []


def test_it_uploads_a_pdf_and_watches_it_become_processed(console, companies, app, celery_worker, tmp_path):
    tenant = companies[0]
    make_agent(app, tenant, name="Docs agent")
    path = tmp_path / "refund-policy.pdf"
    path.write_bytes(pdf([REFUND], title="Refund policy"))
    bad = tmp_path / "notes.exe"
    bad.write_bytes(b"MZ\x90\x00 not a document")
    page = console.sign_in(tenant.admin_email, tenant.password)
    console.go("/app/documents")
    page.get_by_label("Agent").select_option(label="Docs agent")
    page.set_input_files("#file-input", [str(path), str(bad)])
    row = page.locator(".uploads li", has_text="refund-policy.pdf")
    row.locator(".badge", has_text="processed").wait_for(timeout=90_000)
    # The bad file fails on its own, with the server's reason in words.
    failed = page.locator(".uploads li", has_text="notes.exe")
    assert failed.get_attribute("data-state") == "failed" and failed.locator(".error").inner_text().strip()
    table_row = page.locator("tbody tr", has_text="Refund policy")
    table_row.locator(".badge", has_text="processed").wait_for()
    assert re.search(r"\d+\.\d s", table_row.inner_text())  # processing time
    table_row.get_by_role("button", name="Chunks").click()
    dialog = page.locator("dialog[open]")
    dialog.locator(".chunk-text").first.wait_for()
    assert "five business days" in dialog.inner_text()
    console.shot("03-document-processed")
    assert console.errors == []


def test_it_asks_the_agent_and_sees_the_cited_answer(console, companies, app, sdk_a, celery_worker, tmp_path):
    tenant = companies[0]
    agent_id = _sdk_agent_with_doc(app, tenant, sdk_a, tmp_path)
    page = console.sign_in(tenant.admin_email, tenant.password)
    console.go(f"/app/agents/{agent_id}")
    page.get_by_role("tab", name="Test console").click()
    page.get_by_label("Ask the agent").fill("How long do refunds take?")
    page.get_by_role("button", name="Ask").click()
    answer = page.locator(".msg.assistant[data-status=completed]")
    answer.wait_for(timeout=90_000)
    assert "five business days" in answer.locator(".answer").inner_text()
    sources = answer.locator(".sources")
    assert "Refund policy" in sources.inner_text() and sources.locator(".cited").count() >= 1
    console.shot("04-cited-answer")

    # The same exchange is in the conversation list, with its transcript and feedback.
    console.go("/app/conversations")
    page.get_by_role("link", name="Console test").first.click()
    page.locator(".msg.assistant").first.wait_for()
    page.get_by_role("button", name="Helpful", exact=True).click()
    page.wait_for_selector(".feedback button[aria-pressed=true]")
    assert console.errors == []


def test_it_embeds_the_widget_on_a_page_of_another_origin(console, companies, app, live_server, celery_worker,
                                                           host_site):  # noqa: F811
    tenant = companies[0]
    agent_id = create_agent_via_api(app, live_server, tenant, "Embed bot")
    page = console.sign_in(tenant.admin_email, tenant.password)
    console.go(f"/app/agents/{agent_id}")
    page.get_by_role("tab", name="Embed").click()
    page.wait_for_selector("#embed-code, [role=alert]")
    assert page.locator("[role=alert]").count() == 0, page.locator("[role=alert]").all_inner_texts()
    code = page.get_by_label("Paste this before the closing body tag of your site").input_value()
    assert agent_id in code and "widget.js" in code
    # The live preview runs the real widget in the sandboxed test page.
    frame = page.frame_locator("iframe.preview")
    frame.locator("#knowrithm-chat-widget .launcher").wait_for()
    console.shot("05-embed-preview")

    pages, origin = host_site
    # The snippet names the platform by BASE_URL; the test settings' BASE_URL has no port.
    code = code.replace(app.config["SETTINGS"].BASE_URL.rstrip("/") + "/", live_server + "/")
    pages["/shop"] = f"<!doctype html><html><head><title>Shop</title></head><body><h1>Shop</h1>{code}</body></html>"
    shop = page.context.new_page()
    shop.goto(f"{origin}/shop")
    shop.click("#knowrithm-chat-widget .launcher")
    shop.wait_for_selector("#knowrithm-chat-widget form.lead")
    assert "Embed bot" in shop.inner_text("#knowrithm-chat-widget .head")
    shop.screenshot(path=str(console.shot("05-embed-preview").with_name("05-embedded-on-shop.png")))
    assert console.errors == []


def test_a_visitor_becomes_a_lead_on_the_board(console, companies, app, sdk_factory, sdk_a):
    tenant = companies[0]
    agent_id = str(make_agent(app, tenant, name="Lead bot"))
    visitor = sdk_factory()
    visitor.leads.register_lead({"agent_id": agent_id, "first_name": "Vera", "last_name": "Visitor",
                                 "email": "vera@example.com", "phone": "+1 555 0100"})
    page = console.sign_in(tenant.admin_email, tenant.password)
    console.go("/app/leads")
    card = page.locator(".column[data-status=new] .lead", has_text="Vera Visitor")
    card.wait_for()
    card.drag_to(page.locator(".column[data-status=qualified]"))
    page.locator(".column[data-status=qualified] .lead", has_text="Vera Visitor").wait_for()
    page.wait_for_load_state("networkidle")  # the board moves the card before the API answers
    console.shot("06-lead-board")
    lead = sdk_a.leads.list_company_leads()["leads"][0]
    assert lead["status"] == "qualified"
    # Keyboard path: the card's status menu.
    page.locator(".column[data-status=qualified] .lead select").select_option("converted")
    page.locator(".column[data-status=converted] .lead", has_text="Vera Visitor").wait_for()
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    csv = download.value.path().read_text()
    assert "vera@example.com" in csv and "converted" in csv
    assert console.errors == []


def test_the_charts_show_that_conversation(console, companies, app, sdk_a, celery_worker, tmp_path):
    tenant = companies[0]
    agent_id = _sdk_agent_with_doc(app, tenant, sdk_a, tmp_path)
    conv = sdk_a.conversations.create_conversation(agent_id, title="Chart check")
    conv_id = conv.get("conversation", conv)["id"]
    sdk_a.messages.send_message(conv_id, "How long do refunds take?")
    page = console.sign_in(tenant.admin_email, tenant.password)
    console.go("/app/analytics")
    chart = page.locator("figure.chart", has_text="Conversations and messages per day")
    chart.locator("svg rect").first.wait_for()
    chart.get_by_text("Show the data").click()
    from datetime import datetime, timezone

    today = datetime.now(timezone.utc).date().isoformat()
    row = chart.locator("tbody tr", has_text=today)
    cells = row.locator("td").all_inner_texts()
    assert int(cells[0]) >= 1 and int(cells[1]) >= 2, cells  # the conversation and its two messages
    kpis = page.locator(".kpis").inner_text()
    assert re.search(r"\b1\s+Conversations", kpis), kpis
    # Support metrics: the answer came from the knowledge, so the conversation counts as resolved.
    page.locator(".kpi", has_text="Resolution rate").get_by_text("100.0 %").wait_for()
    top = page.locator("figure.chart", has_text="Top questions")
    assert "refunds take" in top.inner_text().lower()
    assert page.locator(".kpi", has_text="Median response time").inner_text() != ""
    console.shot("07-charts")
    assert console.errors == []


def test_the_lead_board_pages_past_its_first_hundred(console, companies, app):
    """The API gives at most 100 leads a page: the board pages through the rest."""
    from datetime import datetime, timedelta, timezone

    from knowrithm.domains.leads.models import Lead
    from knowrithm.infra.db import db

    tenant = companies[0]
    agent_id = make_agent(app, tenant, name="Busy bot")
    start = datetime.now(timezone.utc) - timedelta(days=1)
    with app.app_context():  # newest first: lead 104 leads the first page, leads 0-3 make the second
        db.session.add_all([Lead(company_id=tenant.company_id, agent_id=agent_id, first_name="Lead", last_name=f"No{n}",
                                 email=f"lead{n}@example.com", status="new", created_at=start + timedelta(minutes=n))
                            for n in range(105)])
        db.session.commit()
    page = console.sign_in(tenant.admin_email, tenant.password)
    console.go("/app/leads")
    page.locator(".lead", has_text="Lead No104").wait_for()
    assert page.locator(".lead").count() == 100 and page.get_by_text("Page 1 of 2").is_visible()
    page.get_by_role("button", name="Next").click()
    page.get_by_text("Page 2 of 2").wait_for()
    page.locator(".lead", has_text="Lead No0").first.wait_for()
    assert page.locator(".lead").count() == 5
    assert console.errors == []
