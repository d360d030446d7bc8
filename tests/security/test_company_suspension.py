"""Suspending a company (super admin) locks out everyone in it at once: tokens already issued,
API keys (cached or not), new logins, and widget visitors old and new. Reactivation gives it all back;
nothing the company owns is touched, and no other company notices."""
from __future__ import annotations

from tests.admin.helpers import PLAIN_PASSWORD, admin_headers, audit_rows, bearer, login, make_user
from tests.conftest import make_api_key
from tests.widget.helpers import make_agent


def _suspend(http, company_id, headers, what: str = "suspend"):
    return http.post(f"/api/v1/company/{company_id}/{what}", headers=headers)


def test_a_suspended_company_is_locked_out_until_it_is_reactivated(app, companies, http, super_admin_token):
    acme, globex = companies
    jwt = admin_headers(http, acme)
    key, secret = make_api_key(app, acme, scopes=("read", "write", "admin"))
    api_key = {"X-API-Key": key, "X-API-Secret": secret}
    other = admin_headers(http, globex)
    agent_id = make_agent(app, acme)
    for headers in (jwt, api_key):  # warm every cache first: suspension must reach cached entries
        assert http.get("/api/v1/auth/validate", headers=headers).status_code == 200
    lead_body = {"agent_id": str(agent_id), "first_name": "Vi", "last_name": "Sitor", "email": "vi@visitors.io"}
    visitor = bearer(http.post("/api/v1/lead/register", json=lead_body).json()["access_token"])
    conversation = http.post("/api/v1/conversation", json={"agent_id": str(agent_id)}, headers=visitor)
    assert conversation.status_code == 201, conversation.text
    messages = f"/api/v1/conversation/{conversation.json()['id']}/messages"

    # Only the super admin suspends: the company's own admin and its admin key are refused.
    for headers in (jwt, api_key, other):
        assert _suspend(http, acme.company_id, headers).status_code in (403, 404)
    resp = _suspend(http, acme.company_id, bearer(super_admin_token))
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "suspended" and resp.json()["is_active"] is False

    for headers in (jwt, api_key):
        refused = http.get("/api/v1/auth/validate", headers=headers)
        assert refused.status_code == 401 and refused.json()["code"] == "COMPANY_SUSPENDED", refused.text
    login = http.post("/api/v1/auth/login", json={"email": acme.admin_email, "password": acme.password})
    assert login.status_code == 401 and login.json()["code"] == "COMPANY_SUSPENDED"
    lead = http.post("/api/v1/lead/register", json=lead_body)
    assert lead.status_code == 400 and lead.json()["code"] == "COMPANY_INACTIVE"
    stopped = http.get(messages, headers=visitor)  # a visitor already chatting is stopped too
    assert stopped.status_code == 401 and stopped.json()["code"] == "COMPANY_SUSPENDED"
    assert http.get("/api/v1/auth/validate", headers=other).status_code == 200  # the other company works on
    [row] = audit_rows(app, "company.suspended")
    assert row.company_id == acme.company_id and row.user_role == "super_admin" and row.risk_level == "high"
    # The super admin still sees the company (and its agents) while it is suspended.
    seen = http.get(f"/api/v1/company/{acme.company_id}", headers=bearer(super_admin_token))
    assert seen.status_code == 200 and seen.json()["status"] == "suspended"

    resp = _suspend(http, acme.company_id, bearer(super_admin_token), "reactivate")
    assert resp.status_code == 200 and resp.json()["status"] == "active"
    for headers in (jwt, api_key):
        assert http.get("/api/v1/auth/validate", headers=headers).status_code == 200
    assert http.post("/api/v1/auth/login", json={"email": acme.admin_email, "password": acme.password}).status_code == 200
    assert http.post("/api/v1/lead/register", json=lead_body).status_code in (200, 201)
    assert http.get(messages, headers=visitor).status_code == 200
    assert len(audit_rows(app, "company.reactivated")) == 1


def test_suspension_refuses_bad_targets(app, companies, http, super_admin_token):
    root = bearer(super_admin_token)
    assert _suspend(http, "not-a-uuid", root).status_code == 404
    assert _suspend(http, "00000000-0000-0000-0000-000000000000", root).status_code == 404
    # A super admin who belongs to a company cannot suspend it (and is never locked out by it).
    acme = companies[0]
    user_id = make_user(app, acme, role="super_admin", email="ops@acme.test")
    own = bearer(login(http, "ops@acme.test", PLAIN_PASSWORD))
    resp = _suspend(http, acme.company_id, own)
    assert resp.status_code == 400 and resp.json()["code"] == "OWN_COMPANY"
    assert _suspend(http, acme.company_id, root).status_code == 200
    me = http.get("/api/v1/auth/validate", headers=own)
    assert me.status_code == 200 and me.json()["user"]["id"] == str(user_id)
