"""Quality of the console in headless Chromium: accessibility (axe-core, no serious or critical
violations on any main page), stored XSS payloads rendered as text everywhere, the CSP refusing
inline script, long and right-to-left names on a phone, errors in words, silent token refresh,
and the super admin's impersonation banner with its way back."""
from __future__ import annotations

import pytest

from tests.conftest import SUPER_ADMIN_PASSWORD
from tests.console.conftest import XSS, requires_chromium
from tests.documents.conftest import wait_documents
from tests.documents.files import pdf
from tests.widget.helpers import add_messages, make_agent

pytestmark = requires_chromium

MAIN_PAGES = ["/app/analytics", "/app/agents", "/app/agents/new", "/app/documents", "/app/websites", "/app/databases",
              "/app/conversations", "/app/leads", "/app/profile", "/app/api-keys", "/app/admin/users",
              "/app/admin/catalog", "/app/admin/audit", "/app/admin/privacy"]


@pytest.fixture
def hostile_data(app, companies, sdk_a, sdk_factory, celery_worker, tmp_path):
    """Agent names, a document title, an answer and lead fields that carry script payloads."""
    tenant = companies[0]
    agent_id = str(make_agent(app, tenant, name=XSS[0] + " agent", description=XSS[1]))
    make_agent(app, tenant, name="وكيل الدعم " + "متعدد اللغات " * 12)  # long right-to-left name
    doc = tmp_path / "hostile.pdf"
    doc.write_bytes(pdf([f"Refunds take five days. {XSS[0]}"], title=XSS[1]))  # the title comes from the PDF
    uploaded = sdk_a.documents.upload_documents(agent_id, file_paths=[doc])
    docs = wait_documents(sdk_a, [d["id"] for d in uploaded["documents"]])
    assert [d["title"] for d in docs.values()] == [XSS[1]]
    sdk_factory().leads.register_lead({"agent_id": agent_id, "first_name": XSS[0], "last_name": XSS[1],
                                       "email": "x@example.com", "phone": ""})
    conv = sdk_a.conversations.create_conversation(agent_id, title=XSS[1])
    conv_id = conv.get("conversation", conv)["id"]
    add_messages(app, conv_id, [XSS[0], XSS[1]], role="assistant")
    return {"agent_id": agent_id, "conversation_id": conv_id}


def test_main_pages_have_no_serious_accessibility_violations(console, companies, hostile_data):
    tenant = companies[0]
    found = {}
    for path in ["/app/login", "/app/signup", "/app/forgot-password", "/reset-password?token=t", "/verify"]:
        console.go(path)
        console.page.wait_for_timeout(300)
        if violations := console.axe():
            found[path] = violations
    console.sign_in(tenant.admin_email, tenant.password)
    pages = MAIN_PAGES + [f"/app/agents/{hostile_data['agent_id']}", f"/app/conversations/{hostile_data['conversation_id']}"]
    for path in pages:
        console.go(path)
        console.page.wait_for_load_state("networkidle")
        if violations := console.axe():
            found[path] = violations
    console.go(f"/app/agents/{hostile_data['agent_id']}")
    for tab in ("Test console", "Embed"):
        console.page.get_by_role("tab", name=tab).click()
        console.page.wait_for_load_state("networkidle")
        if violations := console.axe():
            found[f"agent tab {tab}"] = violations
    assert found == {}
    assert console.errors == []


def test_script_payloads_render_as_text_everywhere(console, companies, hostile_data):
    tenant = companies[0]
    page = console.sign_in(tenant.admin_email, tenant.password)
    checks = {
        "/app/agents": XSS[0] + " agent",
        "/app/documents": XSS[1],
        "/app/leads": XSS[0],
        "/app/conversations": XSS[1],
        f"/app/conversations/{hostile_data['conversation_id']}": XSS[0],
        f"/app/agents/{hostile_data['agent_id']}": XSS[0] + " agent",
    }
    for path, text in checks.items():
        console.go(path)
        page.get_by_text(text, exact=False).first.wait_for()
        assert page.locator("main img[src=x]").count() == 0, path  # no element was created from data
        console.no_xss()
    # The answer from the hostile document, streamed in the test console, is text too.
    console.go(f"/app/agents/{hostile_data['agent_id']}")
    page.get_by_role("tab", name="Test console").click()
    page.get_by_label("Ask the agent").fill("How long do refunds take?")
    page.get_by_role("button", name="Ask").click()
    page.locator(".msg.assistant[data-status=completed]").wait_for(timeout=90_000)
    console.shot("08-xss-as-text")
    console.no_xss()
    assert console.dialogs == [] and console.errors == []


def test_csp_refuses_inline_script(console):
    page = console.go("/app/login")
    violations = []
    page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))
    page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.__inline = 1';
                             document.body.append(s); }""")
    page.evaluate("""() => { const d = document.createElement('div');
                             d.innerHTML = '<img src=x onerror="window.__inline = 2">'; document.body.append(d); }""")
    page.wait_for_timeout(500)
    assert page.evaluate("window.__inline") is None
    assert violations, "the browser reported no CSP violation"


def test_phone_layout_with_long_and_right_to_left_names(chromium, live_server, companies, app):
    from tests.console.conftest import Console

    tenant = companies[0]
    make_agent(app, tenant, name="وكيل الدعم الفني للعملاء " * 6)
    make_agent(app, tenant, name="A" * 200)
    context = chromium.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    console = Console(context.new_page(), live_server)
    page = console.sign_in(tenant.admin_email, tenant.password)
    for path in ("/app/agents", "/app/leads", "/app/analytics", "/app/documents"):
        console.go(path)
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate("document.querySelector('main').scrollWidth - document.querySelector('main').clientWidth")
        body_overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if path != "/app/leads":  # the board scrolls sideways inside its own box on purpose
            assert overflow <= 1, (path, overflow)
        assert body_overflow <= 1, (path, body_overflow)
    console.go("/app/agents")
    assert page.locator("nav#nav").is_hidden()
    page.get_by_role("button", name="Menu").click()
    page.get_by_role("link", name="Documents").click()
    page.wait_for_selector("h1:has-text('Documents')")
    console.go("/app/agents")
    console.shot("09-phone-rtl")
    assert console.errors == []
    context.close()


def test_errors_are_shown_in_words(console, companies):
    page = console.go("/app/login")
    page.get_by_label("Email").fill(companies[0].admin_email)
    page.get_by_label("Password").fill("wrong-password-1")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    assert "password" in alert.inner_text().lower()
    console.go("/reset-password?token=not-a-token")
    page.get_by_label("New password", exact=True).fill("Brand-new-pass-42")
    page.get_by_label("Repeat the new password").fill("Brand-new-pass-42")
    page.get_by_role("button", name="Set password").click()
    assert "token" in page.get_by_role("alert").inner_text().lower()
    console.go("/verify?token=garbage")
    assert "token" in page.get_by_role("alert").inner_text().lower()
    console.sign_in(companies[0].admin_email, companies[0].password)
    console.go("/app/agents/00000000-0000-0000-0000-000000000000")
    assert "not found" in page.get_by_role("alert").inner_text().lower()
    assert console.errors == []


def test_mailed_links_land_on_working_pages(console, companies, app, monkeypatch):
    from knowrithm.domains.auth import email as mail

    sent = []
    monkeypatch.setattr(mail, "queue_email", lambda **kw: sent.append(kw) or True)
    tenant = companies[0]
    page = console.go("/app/forgot-password")
    page.get_by_label("Email").fill(tenant.admin_email)
    page.get_by_role("button", name="Mail me a reset link").click()
    page.get_by_role("status").wait_for()
    link = next(w for w in sent[-1]["text"].split() if "/reset-password?token=" in w)
    page.goto(console.base + link[link.index("/reset-password"):])
    page.wait_for_timeout(1100)  # reset tokens carry whole-second times; the change must be later
    page.get_by_label("New password", exact=True).fill("Brand-new-pass-42")
    page.get_by_label("Repeat the new password").fill("Brand-new-pass-42")
    page.get_by_role("button", name="Set password").click()
    page.get_by_text("log in with the new password").wait_for()
    console.sign_in(tenant.admin_email, "Brand-new-pass-42")

    with app.test_request_context():
        from knowrithm.domains.auth.models import User
        from knowrithm.infra.db import db

        mail.send_verification_email(db.session.get(User, tenant.admin_id))
        db.session.remove()
    link = next(w for w in sent[-1]["text"].split() if "/verify?token=" in w)
    page.goto(console.base + link[link.index("/verify"):])
    page.get_by_text("is verified").wait_for()
    assert console.errors == []


def test_an_expired_access_token_is_refreshed_silently(console, companies):
    tenant = companies[0]
    page = console.sign_in(tenant.admin_email, tenant.password)
    before = page.evaluate("JSON.parse(localStorage.getItem('knowrithm.console.session'))")
    page.evaluate("""() => { const s = JSON.parse(localStorage.getItem('knowrithm.console.session'));
                             s.access_token = 'expired.token.value';
                             localStorage.setItem('knowrithm.console.session', JSON.stringify(s)); }""")
    console.go("/app/agents")
    page.wait_for_selector("text=No agents yet")
    after = page.evaluate("JSON.parse(localStorage.getItem('knowrithm.console.session'))")
    assert after["access_token"] not in ("expired.token.value", before["access_token"])
    assert after["refresh_token"] != before["refresh_token"]  # the refresh token rotated
    assert console.errors == []


def test_super_admin_impersonates_with_a_banner_and_returns(console, companies, app):
    tenant = companies[0]
    page = console.sign_in(app.config["SETTINGS"].SUPER_ADMIN_EMAIL, SUPER_ADMIN_PASSWORD)
    console.go("/app/admin/companies")
    page.get_by_text("Acme").first.wait_for()
    if violations := console.axe():
        pytest.fail(f"companies page: {violations}")
    console.go("/app/admin/system")
    page.get_by_text("Health:").wait_for()
    if violations := console.axe():
        pytest.fail(f"system page: {violations}")
    console.go("/app/admin/users")
    page.get_by_label("Company").select_option(label="Acme")
    row = page.locator("tbody tr", has_text=tenant.admin_email)
    row.get_by_role("button", name="Act as").click()
    banner = page.locator(".impersonation")
    banner.wait_for()
    assert tenant.admin_email in banner.inner_text()
    console.shot("10-impersonation")
    page.get_by_role("button", name="Return to my account").click()
    page.wait_for_selector("h1:has-text('Users')")
    assert page.locator(".impersonation").count() == 0
    assert "super admin" in page.inner_text(".topbar")
    assert console.errors == []


def test_keyboard_only_sign_in_navigation_and_lead_status(console, companies, app, sdk_factory, sdk_a):
    tenant = companies[0]
    agent_id = str(make_agent(app, tenant, name="Keyboard bot"))
    sdk_factory().leads.register_lead({"agent_id": agent_id, "first_name": "Kim", "last_name": "Keys",
                                       "email": "kim@example.com", "phone": ""})
    page = console.go("/app/login")
    page.keyboard.press("Tab")  # the email field is the first control
    page.keyboard.type(tenant.admin_email)
    page.keyboard.press("Tab")
    page.keyboard.type(tenant.password)
    page.keyboard.press("Enter")
    page.wait_for_selector("main#main:not(.auth-main)")
    # After a navigation focus is on the page heading; on a fresh load the skip link comes first.
    assert page.evaluate("document.activeElement.id") == "page-title"
    first = page.evaluate("document.querySelector('a[href], button, input, select, textarea').textContent")
    assert first == "Skip to content"
    page.locator("a.skip").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # Reach the Leads link by keyboard and change a lead's status without dragging.
    page.locator("nav#nav a", has_text="Leads").focus()
    page.keyboard.press("Enter")
    select = page.locator(".lead", has_text="Kim Keys").locator("select")
    select.focus()
    page.keyboard.press("End")  # the last status: lost
    page.locator(".column[data-status=lost] .lead", has_text="Kim Keys").wait_for()
    page.wait_for_load_state("networkidle")  # the board moves the card before the API answers
    assert sdk_a.leads.list_company_leads()["leads"][0]["status"] == "lost"
    assert console.errors == []


def test_admin_changes_a_users_status_and_role(console, companies, app):
    from knowrithm.domains.auth.models import User
    from knowrithm.infra.db import db

    tenant = companies[0]
    with app.app_context():
        from knowrithm.domains.auth.passwords import hash_password

        db.session.add(User(company_id=tenant.company_id, email="sam@acme.test", username="sam", first_name="Sam",
                            last_name="Staff", role="user", status="active", email_verified=True,
                            password_hash=hash_password("Sam-Staff-2026")))
        db.session.commit()
        db.session.remove()
    page = console.sign_in(tenant.admin_email, tenant.password)
    console.go("/app/admin/users")
    row = page.locator("tbody tr", has_text="sam@acme.test")
    row.get_by_label("Status of sam@acme.test").select_option("suspended")
    page.get_by_text("Updated sam@acme.test.").wait_for()
    assert row.get_by_label("Role of sam@acme.test").count() == 0  # roles are the super admin's
    with app.app_context():
        assert db.session.execute(db.select(User.status).where(User.email == "sam@acme.test")).scalar_one() == "suspended"
        db.session.remove()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/app/login")
    page.get_by_label("Email").fill("sam@acme.test")
    page.get_by_label("Password").fill("Sam-Staff-2026")
    page.get_by_role("button", name="Sign in").click()
    assert "suspended" in page.get_by_role("alert").inner_text().lower()  # refused in words
    assert console.errors == []
