"""Data and privacy from the console: the company export with progress and its download link,
the retention policy (the platform floor refused in words), a lead's subject-access export and
erasure from the board."""
from __future__ import annotations

import json

import requests

from tests.console.conftest import requires_chromium
from tests.widget.helpers import make_agent

pytestmark = requires_chromium


def test_export_retention_and_lead_erasure(console, companies, app, sdk_factory, sdk_a, celery_worker, live_server):
    tenant = companies[0]
    agent_id = str(make_agent(app, tenant, name="Privacy bot"))
    sdk_factory().leads.register_lead({"agent_id": agent_id, "first_name": "Erin", "last_name": "Erase",
                                       "email": "erin@example.com", "phone": ""})
    page = console.sign_in(tenant.admin_email, tenant.password)
    console.go("/app/admin/privacy")
    page.get_by_role("button", name="Prepare export").click()
    link = page.get_by_role("link", name="download the zip")
    link.wait_for(timeout=90_000)
    zipped = requests.get(live_server + link.get_attribute("href"), timeout=30)
    assert zipped.status_code == 200 and zipped.content[:2] == b"PK"

    page.get_by_label("Audit log").fill("1")
    page.get_by_role("button", name="Save retention").click()
    assert "at least" in page.get_by_role("alert").first.inner_text()  # below the platform floor, in words
    page.get_by_label("Audit log").fill("")
    page.get_by_label("Conversations and messages").fill("90")
    page.get_by_role("button", name="Save retention").click()
    page.get_by_text("Retention saved.").wait_for()
    console.shot("11-privacy")

    console.go("/app/leads")
    card = page.locator(".lead", has_text="Erin Erase")
    with page.expect_download() as download:
        card.get_by_role("button", name="Export data").click()
    exported = json.loads(download.value.path().read_text())
    assert exported["lead"]["email"] == "erin@example.com"
    card.get_by_role("button", name="Erase").click()  # the confirm dialog is accepted by the harness
    page.get_by_text("Erased erin@example.com").wait_for()
    page.locator(".lead", has_text="Erin Erase").wait_for(state="detached")  # the board reloaded
    assert sdk_a.leads.list_company_leads()["leads"] == []
    assert console.errors == []
