"""Account and administration from the console: API keys (secret shown once, revoke), the super
admin's companies (create, suspend, reactivate, delete, restore, cascade delete), a database connection (test,
analyse, schema, text to SQL) and a website source (crawl, pages)."""
from __future__ import annotations

import requests

from tests.conftest import SUPER_ADMIN_PASSWORD
from tests.console.conftest import requires_chromium
from tests.databases.conftest import shop_sqlite  # noqa: F401  (fixture)
from tests.documents.conftest import allow_private_urls, loopback_site  # noqa: F401  (fixtures)
from tests.widget.helpers import make_agent

pytestmark = requires_chromium


def test_api_key_secret_is_shown_once_and_revoking_stops_it(console, companies, live_server):
    tenant = companies[0]
    page = console.sign_in(tenant.admin_email, tenant.password)
    console.go("/app/api-keys")
    page.get_by_label("Name").fill("Reporting script")
    page.get_by_label("write", exact=True).uncheck()
    page.get_by_role("button", name="Create key").click()
    secret_box = page.locator(".secret")
    secret_box.wait_for()
    key = secret_box.locator("dd code").first.inner_text()
    secret = secret_box.locator("[data-secret]").inner_text()
    headers = {"X-API-Key": key, "X-API-Secret": secret}
    assert requests.get(f"{live_server}/api/v1/auth/validate", headers=headers, timeout=30).status_code == 200
    page.get_by_role("button", name="I stored it").click()
    assert secret not in page.content()  # gone from the page; the list shows the prefix only
    row = page.locator("tbody tr", has_text="Reporting script")
    assert "read" in row.inner_text() and "write" not in row.inner_text()
    console.shot("12-api-keys")
    row.get_by_role("button", name="Revoke").click()
    page.get_by_text("No active API keys.").wait_for()
    assert requests.get(f"{live_server}/api/v1/auth/validate", headers=headers, timeout=30).status_code == 401
    assert console.errors == []


def test_super_admin_runs_the_company_lifecycle(console, companies, app, celery_worker):
    page = console.sign_in(app.config["SETTINGS"].SUPER_ADMIN_EMAIL, SUPER_ADMIN_PASSWORD)
    console.go("/app/admin/companies")
    page.get_by_label("Name").fill("Initech")
    page.get_by_label("Contact email").fill("hello@initech.test")
    page.get_by_role("button", name="Create", exact=True).click()
    row = page.locator("tbody tr", has_text="Initech")
    row.wait_for()
    row.get_by_role("button", name="Suspend").click()
    page.get_by_text("Done: suspend Initech").wait_for()
    row = page.locator("tbody tr", has_text="Initech")
    assert "suspended" in row.inner_text()
    row.get_by_role("button", name="Reactivate").click()
    page.get_by_text("Done: reactivate Initech").wait_for()
    row.get_by_role("button", name="Suspend").wait_for()
    row.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_text("Done: delete Initech").wait_for()
    page.get_by_label("Status").select_option("deleted")
    row = page.locator("tbody tr", has_text="Initech")
    row.get_by_role("button", name="Restore").click()
    page.get_by_text("Done: restore Initech").wait_for()
    page.get_by_label("Status").select_option("")
    console.prompt_answer = "Initech"
    page.locator("tbody tr", has_text="Initech").get_by_role("button", name="Delete permanently").click()
    page.get_by_text("Done: purge Initech").wait_for()
    console.shot("13-companies")
    page.wait_for_function("() => !document.querySelector('tbody')?.innerText.includes('Initech')")
    assert console.errors == []


def test_database_connection_and_website_source(console, companies, app, celery_worker, shop_sqlite,  # noqa: F811
                                                allow_private_urls, loopback_site):  # noqa: F811
    tenant = companies[0]
    make_agent(app, tenant, name="Data agent")
    page = console.sign_in(tenant.admin_email, tenant.password)
    console.go("/app/databases")
    page.get_by_label("Agent").select_option(label="Data agent")
    page.get_by_label("Name").fill("Shop")
    page.get_by_label("Type").select_option("sqlite")
    page.get_by_label("Connection URL").fill(shop_sqlite)
    page.get_by_role("button", name="Connect").click()
    card = page.locator(".card", has_text="Shop")
    card.wait_for()
    card.get_by_role("button", name="Test").click()
    card.locator(".notice").first.wait_for()
    card.get_by_role("button", name="Analyse").click()
    card.get_by_text("Analysis finished", exact=False).or_(card.locator(".notice").nth(1)).first.wait_for(timeout=60_000)
    card.get_by_role("button", name="Schema and SQL").click()
    card.locator("table", has_text="customers").wait_for()
    card.get_by_label("Question").fill("How many customers are there?")
    card.get_by_role("button", name="Run").click()
    card.locator("pre.code", has_text="SELECT").wait_for(timeout=60_000)
    console.shot("14-database")

    base, pages = loopback_site
    pages["/"] = ("text/html", b"<html><head><title>Acme help</title></head><body><h1>Help</h1>"
                               b"<p>Our office opens at nine.</p><a href='/hours'>Hours</a></body></html>")
    pages["/hours"] = ("text/html", b"<html><head><title>Hours</title></head><body><p>Open 9 to 5.</p></body></html>")
    console.go("/app/websites")
    page.get_by_label("Agent").select_option(label="Data agent")
    page.get_by_label("Site address").fill(base + "/")
    page.get_by_role("button", name="Add and crawl").click()
    source = page.locator(".card", has_text="127.0.0.1")
    source.wait_for()
    source.get_by_role("button", name="Crawl now").click()
    source.locator(".notice").wait_for(timeout=90_000)
    source.get_by_role("button", name="Pages").click()
    source.locator("table", has_text="Hours").wait_for(timeout=30_000)
    console.shot("15-website")
    assert console.errors == []


def test_admin_adds_a_provider_and_model_then_picks_it_for_an_agent(console, companies, celery_worker):
    tenant = companies[0]
    page = console.sign_in(tenant.admin_email, tenant.password)
    console.go("/app/admin/catalog")
    page.get_by_label("Provider name").fill("Office vLLM")
    page.get_by_label("Base URL").fill("http://127.0.0.1:9/v1")
    page.get_by_role("button", name="Add provider").click()
    card = page.locator(".card", has_text="Office vLLM")
    card.wait_for()
    card.get_by_label("Model name").fill("qwen2.5-7b-instruct")
    card.get_by_label("Context window").fill("32768")
    card.get_by_label("Input price per 1M tokens").fill("0.1")
    card.get_by_role("button", name="Add model").click()
    card.locator("td", has_text="qwen2.5-7b-instruct").wait_for()
    console.shot("16-catalog")
    console.go("/app/agents/new")
    page.get_by_label("Chat provider").select_option(label="Office vLLM")
    assert "qwen2.5-7b-instruct" in page.get_by_label("Chat model").locator("option").all_inner_texts()
    assert console.errors == []
