"""In headless Chromium, the embeddable widget shows a database answer's query under its sources."""
from __future__ import annotations

from tests.widget.helpers import make_agent
from tests.widget.test_widget_browser import CHROMIUM, HOST_PAGE, browser, host_site, pytestmark  # noqa: F401


def test_widget_shows_the_sql_of_a_database_answer(app, companies, sdk_a, live_server, celery_worker, host_site,
                                                    browser, shop_sqlite):
    agent_id = make_agent(app, companies[0], name="Shop helper")
    conn = sdk_a.databases.create_connection("shop", shop_sqlite, "sqlite", str(agent_id))["connection"]
    sdk_a.databases.analyze_connection(conn["id"])
    pages, origin = host_site
    pages["/shop"] = HOST_PAGE.format(agent_id=agent_id, api=live_server)
    page = browser.new_context().new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{origin}/shop")
    page.click("#knowrithm-chat-widget .launcher")
    page.fill("#knowrithm-chat-widget input[name=first_name]", "Dana")
    page.fill("#knowrithm-chat-widget input[name=last_name]", "Visitor")
    page.fill("#knowrithm-chat-widget input[name=email]", "dana@example.com")
    page.click("#knowrithm-chat-widget form.lead button[type=submit]")
    page.wait_for_selector("#knowrithm-chat-widget form.composer:not([hidden])")
    page.fill("#knowrithm-chat-widget .composer textarea", "How many customers are in the USA?")
    page.click("#knowrithm-chat-widget .composer button[type=submit]")
    sql = page.wait_for_selector("#knowrithm-chat-widget .msg.assistant[data-id] .sources code.sql", timeout=60_000)
    shown = sql.inner_text()
    assert "COUNT(*)" in shown and "USA" in shown
    assert "Database: shop" in page.inner_text("#knowrithm-chat-widget .msg.assistant[data-id] .sources")
    assert "count = 2" in page.inner_text("#knowrithm-chat-widget .msg.assistant[data-id]") and errors == []
