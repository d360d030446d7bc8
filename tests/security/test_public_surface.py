"""The public surface: what anonymous callers, other sites and forged headers can get."""
from __future__ import annotations

from flask import Flask, jsonify, request

from tests.admin.helpers import PLAIN_PASSWORD, admin_headers, audit_rows, bearer, login, make_user
from tests.conftest import make_api_key
from tests.infra.test_conventions import assert_envelope
from tests.widget.helpers import make_agent


def test_super_admin_route_exposes_only_existence(http):
    resp = http.get("/api/v1/auth/super-admin")
    assert resp.status_code == 200
    assert resp.json() == {"message": "Super admin is ready", "exists": True}
    assert "root@knowrithm.test" not in resp.text


# --- CORS --------------------------------------------------------------------------------------

def test_staff_routes_answer_no_foreign_origin_unless_configured(http, companies, app, settings, monkeypatch):
    key, secret = make_api_key(app, companies[0])
    headers = {"Origin": "https://evil.example", "X-API-Key": key, "X-API-Secret": secret}
    resp = http.get("/api/v1/auth/user/me", headers=headers)
    assert resp.status_code == 200 and "Access-Control-Allow-Origin" not in resp.headers
    pre = http.options("/api/v1/auth/user/me", headers={"Origin": "https://evil.example",
                                                        "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in pre.headers

    monkeypatch.setattr(settings, "CORS_ORIGINS", "https://app.example, https://admin.example")
    resp = http.get("/api/v1/auth/user/me", headers={**headers, "Origin": "https://app.example"})
    assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Access-Control-Allow-Origin" not in http.get("/api/v1/auth/user/me", headers=headers).headers


def test_widget_routes_echo_any_origin_unless_the_agent_lists_origins(app, companies, http):
    from knowrithm.domains.llm.service import create_settings
    from knowrithm.infra.db import db
    from knowrithm.infra.tenancy import company_scope

    agent_id = make_agent(app, companies[0])
    lead = {"agent_id": str(agent_id), "first_name": "O", "last_name": "R", "email": "o@visitors.io"}
    resp = http.post("/api/v1/lead/register", json=lead, headers={"Origin": "https://any.example"})
    assert resp.status_code == 200 and resp.headers["Access-Control-Allow-Origin"] == "https://any.example"
    tokens = resp.json()
    conv = http.post("/api/v1/conversation", json={"agent_id": str(agent_id)},
                     headers={"Origin": "https://any.example", **bearer(tokens["access_token"])}).json()["id"]

    with app.app_context(), company_scope(companies[0].company_id):
        create_settings(company_id=companies[0].company_id, agent_id=str(agent_id), llm_provider="knowrithm",
                        llm_model="extractive", embedding_provider="knowrithm", embedding_model="all-MiniLM-L6-v2",
                        widget_config={"allowedOrigins": ["https://shop.example"]})
        db.session.commit()
        db.session.remove()

    shop, other = {"Origin": "https://shop.example"}, {"Origin": "https://other.example"}
    assert http.post("/api/v1/lead/register", json=lead, headers=shop).status_code == 200
    for method, path, body, extra in [
        ("POST", "/api/v1/lead/register", lead, {}),
        ("POST", "/api/v1/lead/refresh", {"refresh_token": tokens["refresh_token"]}, {}),
        ("POST", "/api/v1/website/handshake", {"agent_id": str(agent_id), "url": "https://other.example/"}, {}),
        ("GET", f"/api/v1/agent/{agent_id}", None, {}),
        ("GET", f"/api/v1/conversation/{conv}/messages", None, bearer(tokens["access_token"])),
        ("GET", f"/api/v1/conversation/{conv}/messages/stream", None, bearer(tokens["access_token"])),
        ("POST", f"/api/v1/conversation/{conv}/chat", {"message": "hi"}, bearer(tokens["access_token"])),
        ("POST", "/api/v1/conversation", {"agent_id": str(agent_id)}, bearer(tokens["access_token"])),
    ]:
        resp = http.request(method, path, json=body, headers={**other, **extra})
        assert_envelope(resp, 403, "ORIGIN_NOT_ALLOWED")
    # The listed site works, and so do servers (no Origin header).
    assert http.get(f"/api/v1/conversation/{conv}/messages",
                    headers={**shop, **bearer(tokens["access_token"])}).status_code == 200
    assert http.get(f"/api/v1/agent/{agent_id}").status_code == 200


# --- proxies and client IPs ------------------------------------------------------------------

def test_a_forged_forwarded_for_changes_neither_audit_ip_nor_rate_limits(http, app, companies):
    for n in range(3):
        http.post("/api/v1/auth/login", json={"email": companies[0].admin_email, "password": "wrong"},
                  headers={"X-Forwarded-For": f"203.0.113.{n}"})
    rows = [r for r in audit_rows(app, "auth.login_failed")]
    assert rows and {r.ip_address for r in rows} == {"127.0.0.1"}


def _probe_app(trusted: int) -> Flask:
    from knowrithm.infra.edge import apply_security_headers, install_proxy_fix

    probe = Flask("probe")
    install_proxy_fix(probe, trusted)

    @probe.get("/ip")
    def ip():
        return jsonify(ip=request.remote_addr, secure=request.is_secure)

    @probe.get("/page")
    def page():
        return "<p>hi</p>"

    probe.after_request(lambda resp: (apply_security_headers(resp), resp)[1])
    return probe


def test_forwarded_headers_count_only_from_trusted_proxies():
    forged = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9", "X-Forwarded-Proto": "https"}
    untrusted = _probe_app(0).test_client().get("/ip", headers=forged, environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert untrusted.json == {"ip": "10.0.0.5", "secure": False}
    assert "Strict-Transport-Security" not in untrusted.headers
    # One trusted proxy: its own entry (the last) is the client; anything before it is the client's claim.
    one = _probe_app(1).test_client().get("/ip", headers=forged, environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert one.json == {"ip": "203.0.113.9", "secure": True}
    assert one.headers["Strict-Transport-Security"].startswith("max-age=")


def test_security_headers_on_every_response(http):
    resp = http.get("/api/v1/health")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    page = _probe_app(0).test_client().get("/page")
    assert "frame-ancestors 'self'" in page.headers["Content-Security-Policy"]
    test_page = http.get("/api/v1/test")
    assert "sandbox" in test_page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in test_page.headers["Content-Security-Policy"]


# --- chat budgets ---------------------------------------------------------------------------------

def test_chat_is_rate_limited_per_session_and_conversation(app, companies, http, settings, monkeypatch):
    monkeypatch.setattr(settings, "CHAT_RATE_PER_SESSION", "2/minute")
    monkeypatch.setattr(settings, "CHAT_RATE_PER_CONVERSATION", "3/minute")
    agent_id = make_agent(app, companies[0])
    lead = http.post("/api/v1/lead/register", json={"agent_id": str(agent_id), "first_name": "R", "last_name": "L",
                                                    "email": "rl@visitors.io"}).json()
    headers = bearer(lead["access_token"])
    conv = http.post("/api/v1/conversation", json={"agent_id": str(agent_id)}, headers=headers).json()["id"]
    statuses = [http.post(f"/api/v1/conversation/{conv}/chat", json={"message": f"m{i}"}, headers=headers)
                for i in range(3)]
    assert [r.status_code for r in statuses] == [202, 202, 429]
    assert int(statuses[2].headers["Retry-After"]) >= 1
    assert_envelope(statuses[2], 429, "RATE_LIMITED")
    # Staff writing in the same conversation hit the per-conversation budget, not the visitor's.
    key, secret = make_api_key(app, companies[0])
    staff = {"X-API-Key": key, "X-API-Secret": secret}
    codes = [http.post(f"/api/v1/conversation/{conv}/chat", json={"message": "s"}, headers=staff).status_code
             for _ in range(2)]
    assert codes == [202, 429]  # the visitor's m0 and m1 count against the conversation's 3


def test_chat_is_rate_limited_per_company_across_conversations(app, companies, http, settings, monkeypatch):
    """The company's budget caps the whole widget: many visitors in many conversations share it,
    and another company's budget is its own."""
    monkeypatch.setattr(settings, "CHAT_RATE_PER_COMPANY", "4/minute")

    def visitor_chat(tenant, n):
        agent_id = make_agent(app, tenant)
        lead = http.post("/api/v1/lead/register", json={"agent_id": str(agent_id), "first_name": "C",
                                                        "last_name": "B", "email": f"cb{n}@visitors.io"}).json()
        headers = bearer(lead["access_token"])
        conv = http.post("/api/v1/conversation", json={"agent_id": str(agent_id)}, headers=headers).json()["id"]
        return [http.post(f"/api/v1/conversation/{conv}/chat", json={"message": f"q{i}"}, headers=headers)
                for i in range(2)]

    acme = [r.status_code for n in range(3) for r in visitor_chat(companies[0], n)]
    assert acme == [202, 202, 202, 202, 429, 429]  # three visitors, two questions each, four allowed
    assert [r.status_code for r in visitor_chat(companies[1], 9)] == [202, 202]


# --- who sees what ----------------------------------------------------------------------------------

def test_recent_audit_events_are_for_admins_only(app, companies, http):
    make_user(app, companies[0], email="viewer@acme.test")
    admin = admin_headers(http, companies[0])
    user = bearer(login(http, "viewer@acme.test", PLAIN_PASSWORD))
    as_admin = http.get("/api/v1/analytic/dashboard", headers=admin)
    assert as_admin.status_code == 200, as_admin.text
    assert as_admin.json()["security_analytics"]["recent_audit_events"]
    as_user = http.get("/api/v1/analytic/dashboard", headers=user)
    assert as_user.status_code == 200
    assert as_user.json()["security_analytics"]["recent_audit_events"] == []
    assert "admin@acme.test" not in as_user.text


def test_provider_errors_reach_staff_but_not_visitors(app, companies, sdk_a, http, celery_worker, tmp_path):
    from tests.conftest import poll_task
    from tests.conversations.test_answers import _agent_with_policy, _use_unreachable_model

    agent_id = _agent_with_policy(app, companies[0], sdk_a, tmp_path)
    _use_unreachable_model(app, companies[0], agent_id)
    lead = http.post("/api/v1/lead/register", json={"agent_id": str(agent_id), "first_name": "P", "last_name": "E",
                                                    "email": "pe@visitors.io"}).json()
    visitor = bearer(lead["access_token"])
    conv = http.post("/api/v1/conversation", json={"agent_id": str(agent_id)}, headers=visitor).json()["id"]
    ack = http.post(f"/api/v1/conversation/{conv}/chat", json={"message": "How long do refunds take?"},
                    headers=visitor).json()

    task = poll_task(http, ack["status_url"], timeout=90)
    assert task["status"] == "failed" and "llama3.1" not in str(task) and "127.0.0.1" not in str(task)
    seen = http.get(f"/api/v1/conversation/{conv}/messages", headers=visitor).json()["messages"]
    assert seen[0]["status"] == "failed" and "error_detail" not in seen[0]["metadata"]
    assert "could not answer" in seen[0]["metadata"]["error"] and seen[0]["metadata"]["error_code"] == "ANSWER_FAILED"

    # Staff read the provider's detail, in the transcript and the task.
    staff = sdk_a.conversations.list_conversation_messages(conv)["messages"]
    assert "llama3.1" in staff[0]["metadata"]["error_detail"] or "127.0.0.1" in staff[0]["metadata"]["error_detail"]
    staff_task = http.get(ack["status_url"], headers=dict(sdk_a._session.headers)).json()
    assert "llama3.1" in staff_task["error"]
