"""Data access is audited: staff reading a transcript, exports, database queries, document
changes, and every call made while impersonating (with the impersonator). Client IPs come
from the trusted-proxy rule: a forged X-Forwarded-For is not what the audit row records."""
from __future__ import annotations

import uuid

from tests.admin.helpers import admin_headers, audit_rows, bearer
from tests.conftest import make_api_key
from tests.widget.helpers import make_agent


def test_staff_reading_a_transcript_is_audited_and_the_visitor_is_not(app, companies, http):
    agent_id = make_agent(app, companies[0])
    lead = http.post("/api/v1/lead/register", json={"agent_id": str(agent_id), "first_name": "A", "last_name": "B",
                                                    "email": "aud@visitors.io"}).json()
    conv = http.post("/api/v1/conversation", json={"agent_id": str(agent_id)},
                     headers=bearer(lead["access_token"])).json()["id"]
    assert http.get(f"/api/v1/conversation/{conv}/messages", headers=bearer(lead["access_token"])).status_code == 200
    assert audit_rows(app, "conversation.transcript_viewed") == []

    key, secret = make_api_key(app, companies[0])
    resp = http.get(f"/api/v1/conversation/{conv}/messages",
                    headers={"X-API-Key": key, "X-API-Secret": secret, "X-Forwarded-For": "203.0.113.50"})
    assert resp.status_code == 200
    rows = audit_rows(app, "conversation.transcript_viewed")
    assert len(rows) == 1 and rows[0].entity_id == conv and rows[0].api_key_id is not None
    assert rows[0].company_id == companies[0].company_id and rows[0].ip_address == "127.0.0.1"
    assert rows[0].event_category == "data_access"
    # A refused read (another company) leaves no access row.
    other_key, other_secret = make_api_key(app, companies[1])
    assert http.get(f"/api/v1/conversation/{conv}/messages",
                    headers={"X-API-Key": other_key, "X-API-Secret": other_secret}).status_code == 404
    assert len(audit_rows(app, "conversation.transcript_viewed")) == 1


def test_exports_and_document_deletes_are_audited(app, companies, http):
    headers = admin_headers(http, companies[0])
    resp = http.post("/api/v1/analytic/export", json={"type": "leads", "format": "csv"}, headers=headers)
    assert resp.status_code == 200, resp.text
    assert [r.user_id for r in audit_rows(app, "export.analytics")] == [companies[0].admin_id]
    missing = str(uuid.uuid4())
    assert http.delete(f"/api/v1/document/{missing}", headers=headers).status_code == 404
    assert audit_rows(app, "document.deleted") == []
    # Reading a document's text (its chunks) is data access too.
    doc = _document(app, companies[0])
    assert http.get(f"/api/v1/document/{doc}/chunk", headers=headers).status_code == 200
    [read] = audit_rows(app, "document.text_read")
    assert read.entity_id == str(doc) and read.user_id == companies[0].admin_id
    assert http.get(f"/api/v1/document/{missing}/chunk", headers=headers).status_code == 404
    assert len(audit_rows(app, "document.text_read")) == 1


def _document(app, company) -> uuid.UUID:
    from knowrithm.domains.documents.models import Document
    from knowrithm.infra.db import db
    from knowrithm.infra.tenancy import company_scope

    agent_id = make_agent(app, company)
    with app.app_context(), company_scope(company.company_id):
        doc = Document(company_id=company.company_id, agent_id=agent_id, original_filename="policy.txt",
                       filename="policy.txt", document_type="txt", status="processed")
        db.session.add(doc)
        db.session.commit()
        return doc.id


def test_every_call_while_impersonating_names_the_impersonator(app, companies, http, super_admin_token):
    resp = http.post(f"/api/v1/user/{companies[0].admin_id}/impersonate", headers=bearer(super_admin_token))
    assert resp.status_code == 200, resp.text
    acting = bearer(resp.json()["access_token"])
    root_id = resp.json()["impersonator_id"]
    assert http.get("/api/v1/auth/user/me", headers=acting).status_code == 200
    assert http.put("/api/v1/user/profile", json={"timezone": "Europe/Paris"}, headers=acting).status_code == 200
    rows = audit_rows(app, "impersonation.action")
    assert [(r.details["method"], r.details["path"]) for r in rows] == [("GET", "/api/v1/auth/user/me"),
                                                                        ("PUT", "/api/v1/user/profile")]
    assert all(str(r.impersonator_id) == root_id and r.user_id == companies[0].admin_id for r in rows)
    assert all(r.risk_level == "high" for r in rows)
