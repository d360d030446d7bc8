"""Knowing a visitor's email never gives access to that visitor's conversations.

Written from the user's side, as the hole was found: register again with a known email,
then list `/conversation/entity` and read `/conversation/<id>/messages`."""
from __future__ import annotations

from tests.infra.test_conventions import assert_envelope
from tests.widget.helpers import make_agent


def _register(http, agent_id, email, **fields):
    body = {"agent_id": str(agent_id), "first_name": "Vera", "last_name": "Visitor", "email": email, "phone": "",
            **fields}
    resp = http.post("/api/v1/lead/register", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _bearer(tokens) -> dict:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def _audit(app, event_type) -> list:
    from sqlalchemy import select

    from knowrithm.domains.audit.models import AuditLog
    from knowrithm.infra.db import db

    with app.app_context():
        rows = [r.details for r in db.session.execute(select(AuditLog).where(AuditLog.event_type == event_type))
                .scalars()]
        db.session.remove()
    return rows


def test_registering_again_opens_a_new_session_that_sees_nothing_earlier(app, companies, http, sdk_a):
    agent_id = make_agent(app, companies[0])
    first = _register(http, agent_id, "card@visitors.io", phone="+1 555 0100")
    conv = http.post("/api/v1/conversation", headers=_bearer(first), json={"agent_id": str(agent_id)})
    assert conv.status_code == 201, conv.text
    conv_id = conv.json()["id"]
    sent = http.post(f"/api/v1/conversation/{conv_id}/chat", headers=_bearer(first),
                     json={"message": "my card is 4111 1111 1111 1111"})
    assert sent.status_code == 202, sent.text

    # The attacker knows only the email; other name and phone.
    second = _register(http, agent_id, "card@visitors.io", first_name="Mallory", last_name="X", phone="+9 999")
    assert second["lead"]["id"] == first["lead"]["id"]
    assert second["session_id"] != first["session_id"]
    attacker = _bearer(second)
    listed = http.get("/api/v1/conversation/entity", headers=attacker)
    assert listed.status_code == 200 and listed.json()["conversations"] == []
    assert_envelope(http.get(f"/api/v1/conversation/{conv_id}/messages", headers=attacker), 404, "NOT_FOUND")
    assert_envelope(http.post(f"/api/v1/conversation/{conv_id}/chat", headers=attacker, json={"message": "hi"}),
                    404, "NOT_FOUND")
    assert http.get(f"/api/v1/conversation/{conv_id}/messages/stream", headers=attacker).status_code == 404

    # Nothing stored was overwritten.
    lead = sdk_a.leads.get_lead(first["lead"]["id"])["lead"]
    assert (lead["first_name"], lead["last_name"], lead["phone"]) == ("Vera", "Visitor", "+1 555 0100")

    # The first session still reaches its own conversation, and only it.
    mine = http.get(f"/api/v1/conversation/{conv_id}/messages", headers=_bearer(first))
    assert mine.status_code == 200
    # (a worker may already have answered: only the visitor's own words are checked)
    assert [m["content"] for m in mine.json()["messages"] if m["role"] == "user"] \
        == ["my card is 4111 1111 1111 1111"]
    new_conv = http.post("/api/v1/conversation", headers=attacker, json={"agent_id": str(agent_id)}).json()["id"]
    assert [c["id"] for c in http.get("/api/v1/conversation/entity", headers=attacker).json()["conversations"]] \
        == [new_conv]
    assert [c["id"] for c in http.get("/api/v1/conversation/entity", headers=_bearer(first)).json()["conversations"]] \
        == [conv_id]
    # Staff see both.
    assert {c["id"] for c in sdk_a.conversations.list_conversations_by_entity(
        first["lead"]["id"], entity_type="lead")["conversations"]} == {conv_id, new_conv}


def test_registration_fills_only_empty_fields_and_records_it(app, companies, http, sdk_a):
    agent_id = make_agent(app, companies[0])
    first = _register(http, agent_id, "fill@visitors.io")
    assert first["lead"]["phone"] is None
    _register(http, agent_id, "fill@visitors.io", first_name="Other", phone="+44 20", consent_marketing=True)
    lead = sdk_a.leads.get_lead(first["lead"]["id"])["lead"]
    assert lead["first_name"] == "Vera" and lead["phone"] == "+44 20"
    assert lead["consent_marketing"] is False  # consents are the visitor's: not changed anonymously
    assert _audit(app, "lead.fields_filled")[0]["fields"] == ["phone"]


def test_the_refresh_token_resumes_the_same_session_once(app, companies, http):
    agent_id = make_agent(app, companies[0])
    first = _register(http, agent_id, "resume@visitors.io")
    conv_id = http.post("/api/v1/conversation", headers=_bearer(first), json={"agent_id": str(agent_id)}).json()["id"]

    resp = http.post("/api/v1/lead/refresh", json={"refresh_token": first["refresh_token"]})
    assert resp.status_code == 200, resp.text
    resumed = resp.json()
    assert resumed["session_id"] == first["session_id"] and resumed["access_token"] != first["access_token"]
    assert http.get(f"/api/v1/conversation/{conv_id}/messages", headers=_bearer(resumed)).status_code == 200
    # Bearer form works too, and each refresh token works once.
    again = http.post("/api/v1/lead/refresh", headers={"Authorization": f"Bearer {resumed['refresh_token']}"})
    assert again.status_code == 200
    assert_envelope(http.post("/api/v1/lead/refresh", json={"refresh_token": first["refresh_token"]}),
                    401, "TOKEN_REVOKED")
    # An access token is not a refresh token; nothing at all is 401.
    assert_envelope(http.post("/api/v1/lead/refresh", json={"refresh_token": first["access_token"]}),
                    401, "TOKEN_INVALID")
    assert_envelope(http.post("/api/v1/lead/refresh", json={}), 401, "TOKEN_MISSING")


def test_lead_tokens_are_refused_on_staff_routes_and_deleted_leads_cannot_refresh(app, companies, http, sdk_a):
    agent_id = make_agent(app, companies[0])
    lead = _register(http, agent_id, "gone@visitors.io")
    for path in ("/api/v1/conversation", "/api/v1/lead/company", "/api/v1/admin/user", "/api/v1/auth/user/me"):
        resp = http.get(path, headers=_bearer(lead))
        assert resp.status_code in (401, 403), (path, resp.status_code)
    sdk_a.leads.delete_lead(lead["lead"]["id"])
    assert_envelope(http.post("/api/v1/lead/refresh", json={"refresh_token": lead["refresh_token"]}),
                    401, "LEAD_INACTIVE")


def test_session_answers_match_their_declared_schema(app, companies, http):
    """The spec declares these answers (schemathesis rarely reaches a successful one)."""
    import jsonschema

    spec = http.get("/api/openapi.json").json()
    schema = {**spec["components"]["schemas"]["LeadSessionOut"], "components": spec["components"]}
    agent_id = make_agent(app, companies[0])
    first = _register(http, agent_id, "schema@visitors.io")
    jsonschema.validate(first, schema)
    resumed = http.post("/api/v1/lead/refresh", json={"refresh_token": first["refresh_token"]}).json()
    jsonschema.validate(resumed, schema)
    login_schema = spec["paths"]["/api/v1/auth/login"]["post"]["responses"]["200"]["content"]["application/json"]
    login = http.post("/api/v1/auth/login", json={"email": companies[0].admin_email,
                                                  "password": companies[0].password}).json()
    ref = login_schema["schema"]["$ref"].rsplit("/", 1)[1]
    jsonschema.validate(login, {**spec["components"]["schemas"][ref], "components": spec["components"]})
