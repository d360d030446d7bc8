"""Erasure of a company, a lead and a user: nothing of the subject is left in any table (from the
catalog), the upload folder or Redis; the other company is intact; a certificate is recorded."""
from __future__ import annotations

import uuid

from sqlalchemy import text

from tests.conftest import make_api_key, make_tenant, poll_task
from tests.lifecycle.helpers import db_traces, file_traces, populate, redis_traces
from tests.widget.helpers import make_agent


def _login(http, email, password) -> dict:
    resp = http.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def _certificates(app, event: str) -> list[dict]:
    from knowrithm.infra.db import db

    with app.app_context():
        rows = db.session.execute(text("SELECT entity_id, details, company_id FROM audit_logs WHERE event_type = :e"),
                                  {"e": event}).all()
        db.session.remove()
    return rows


def test_company_erasure_leaves_no_trace_and_spares_the_other_company(app, settings, companies, sdk_factory, http,
                                                                      tmp_path, celery_worker):
    acme, globex = companies
    a = populate(app, acme, sdk_factory, http, tmp_path, "zorblatacme")
    b = populate(app, globex, sdk_factory, http, tmp_path, "quixelglobex")
    from knowrithm.domains.auth import request_log

    with app.app_context():
        request_log.flush()  # the API-key requests reach api_request_logs (analytics) now
    before_a = db_traces(app, a.markers)
    for table in ("documents", "document_chunks", "chunk_terms", "website_pages", "database_connections",
                  "conversations", "messages", "leads", "api_keys", "api_request_logs", "audit_logs"):
        assert before_a.get(table), f"the test company left nothing in {table}: {before_a}"
    assert file_traces(settings.UPLOAD_FOLDER, [str(acme.company_id)])
    assert redis_traces(app, a.markers)
    before_b = db_traces(app, b.markers)
    b_files = file_traces(settings.UPLOAD_FOLDER, b.markers)

    headers = _login(http, acme.admin_email, acme.password)
    # Another company's id answers 404; a wrong confirmation 400; nothing is erased by either.
    foreign = http.post(f"/api/v1/erasure/companies/{globex.company_id}", headers=headers,
                        json={"confirm": str(globex.company_id)})
    assert foreign.status_code == 404 and foreign.json()["code"] == "NOT_FOUND"
    wrong = http.post(f"/api/v1/erasure/companies/{acme.company_id}", headers=headers, json={"confirm": "yes"})
    assert wrong.status_code == 400 and "confirm" in wrong.json()["details"]

    resp = http.post(f"/api/v1/erasure/companies/{acme.company_id}", headers=headers,
                     json={"confirm": str(acme.company_id)})
    assert resp.status_code == 202, resp.text
    done = poll_task(http, resp.json()["status_url"], timeout=120)
    assert done["status"] == "completed" and done["erased"] is True, done
    assert done["files_removed"] >= 1 and done["redis_entries_removed"] >= 1

    assert db_traces(app, a.markers) == {}
    assert file_traces(settings.UPLOAD_FOLDER, a.markers) == []
    assert redis_traces(app, a.markers) == []
    assert db_traces(app, b.markers) == before_b
    assert file_traces(settings.UPLOAD_FOLDER, b.markers) == b_files
    # The certificate: ids and counts, no personal data.
    [(entity_id, details, company_id)] = _certificates(app, "erasure.company")
    assert entity_id == str(acme.company_id) and str(company_id) == str(acme.company_id)
    assert details["rows"]["messages"] >= 2 and details["rows"]["documents"] == 1 and details["rows"]["leads"] == 1
    assert "zorblatacme" not in str(details) and acme.admin_email not in str(details)
    # The erased admin's credentials are dead.
    assert http.get("/api/v1/company", headers=headers).status_code == 401


def test_lead_erasure_removes_the_lead_everywhere_and_a_return_is_a_new_lead(app, settings, companies, sdk_factory,
                                                                             http, tmp_path, celery_worker):
    acme, globex = companies
    a = populate(app, acme, sdk_factory, http, tmp_path, "frobnicacme")
    # A second lead of the same company, and the other company, stay.
    other = http.post("/api/v1/lead/register", json={"agent_id": a.agent_id, "first_name": "Ot", "last_name": "Her",
                                                     "email": "other.visitor@example.org"}).json()
    lead_markers = [a.lead_id, a.lead_email, *a.conversation_ids, "frobnicacme refund policy?", "frobnicacme thanks"]
    assert db_traces(app, lead_markers)
    assert redis_traces(app, a.conversation_ids)

    admin_b = _login(http, globex.admin_email, globex.password)
    assert http.post(f"/api/v1/erasure/leads/{a.lead_id}", headers=admin_b).status_code == 404
    key, secret = make_api_key(app, acme, scopes=("read", "write"))
    weak = http.post(f"/api/v1/erasure/leads/{a.lead_id}", headers={"X-API-Key": key, "X-API-Secret": secret})
    assert weak.status_code == 403
    assert http.post(f"/api/v1/erasure/leads/{a.lead_id}", headers=a.lead_headers).status_code == 403

    admin_a = _login(http, acme.admin_email, acme.password)
    resp = http.post(f"/api/v1/erasure/leads/{a.lead_id}", headers=admin_a)
    assert resp.status_code == 200, resp.text
    cert = resp.json()["certificate"]
    assert cert["subject_id"] == a.lead_id and cert["conversation_ids"] == a.conversation_ids
    assert cert["rows"]["leads"] == 1 and cert["rows"]["messages"] >= 2 and cert["rows"]["conversations"] == 1

    assert db_traces(app, lead_markers) == {}
    assert redis_traces(app, lead_markers) == []
    assert db_traces(app, ["other.visitor@example.org"]).get("leads") == 1
    assert db_traces(app, [a.document_id]).get("documents") == 1  # the company's knowledge stays
    # The erased lead's token is dead; registering again with the same email is a new, empty lead.
    assert http.get("/api/v1/conversation/entity", headers=a.lead_headers).status_code == 401
    again = http.post("/api/v1/lead/register", json={"agent_id": a.agent_id, "first_name": "Vi",
                                                     "last_name": "Sitor", "email": a.lead_email}).json()
    assert again["lead"]["id"] != a.lead_id and again["lead"]["id"] != other["lead"]["id"]
    fresh = {"Authorization": f"Bearer {again['access_token']}"}
    assert http.get("/api/v1/conversation/entity", headers=fresh).json()["conversations"] == []
    # Erasing again finds nothing (404: the lead is gone).
    assert http.post(f"/api/v1/erasure/leads/{a.lead_id}", headers=admin_a).status_code == 404


def test_user_erasure_and_rights(app, companies, http):
    from knowrithm.domains.auth.models import User
    from knowrithm.domains.auth.passwords import hash_password
    from knowrithm.infra.db import db

    acme, globex = companies
    with app.app_context():
        user = User(company_id=acme.company_id, email="clerk@acme.test", username="clerk", role="user",
                    status="active", email_verified=True, password_hash=hash_password("Clerk-Passw0rd!"))
        db.session.add(user)
        db.session.commit()
        user_id = str(user.id)
        db.session.remove()
    clerk = _login(http, "clerk@acme.test", "Clerk-Passw0rd!")
    key_resp = http.post("/api/v1/auth/api-keys", headers=clerk, json={"name": "clerk key", "scopes": ["read"]})
    assert key_resp.status_code in (200, 201), key_resp.text

    # Without admin rights: 403; another company's admin: 404; one's own account: 409.
    assert http.post(f"/api/v1/erasure/users/{acme.admin_id}", headers=clerk).status_code == 403
    assert http.post(f"/api/v1/erasure/companies/{acme.company_id}", headers=clerk,
                     json={"confirm": str(acme.company_id)}).status_code == 403
    admin_b = _login(http, globex.admin_email, globex.password)
    assert http.post(f"/api/v1/erasure/users/{user_id}", headers=admin_b).status_code == 404
    admin_a = _login(http, acme.admin_email, acme.password)
    assert http.post(f"/api/v1/erasure/users/{acme.admin_id}", headers=admin_a).status_code == 409

    resp = http.post(f"/api/v1/erasure/users/{user_id}", headers=admin_a)
    assert resp.status_code == 200, resp.text
    assert resp.json()["certificate"]["rows"]["users"] == 1 and resp.json()["certificate"]["rows"]["api_keys"] == 1
    assert db_traces(app, ["clerk@acme.test"]) == {}
    assert db_traces(app, [user_id]).keys() <= {"audit_logs"}  # only the certificate's own row names the id
    assert http.get("/api/v1/auth/validate", headers=clerk).status_code == 401


def test_soft_deleted_rows_are_purged_after_the_grace_period(app, settings, companies, tmp_path):
    from datetime import timedelta

    from knowrithm.domains.leads.models import Lead
    from knowrithm.domains.lifecycle.purge import purge_soft_deleted
    from knowrithm.infra.db import db, utcnow

    acme, globex = companies
    gone = make_tenant(app, "Defunct")
    agent_id = make_agent(app, acme)
    with app.app_context():
        import io

        from knowrithm.domains.documents.models import Document
        from knowrithm.integrations.storage import get_storage

        old = utcnow() - timedelta(days=settings.SOFT_DELETE_GRACE_DAYS + 1)
        recent = utcnow() - timedelta(days=settings.SOFT_DELETE_GRACE_DAYS - 1)
        storage = get_storage(settings)
        for name, at in (("old", old), ("recent", recent)):
            storage.save(f"{acme.company_id}/{agent_id}/{name}.txt", io.BytesIO(b"x"))
            db.session.add(Document(company_id=acme.company_id, agent_id=agent_id, original_filename=f"{name}.txt",
                                    filename=f"{name}.txt", document_type="txt", deleted_at=at,
                                    storage_path=f"{acme.company_id}/{agent_id}/{name}.txt"))
        db.session.add_all([Lead(company_id=acme.company_id, email="old@x.io", deleted_at=old),
                            Lead(company_id=acme.company_id, email="recent@x.io", deleted_at=recent),
                            Lead(company_id=acme.company_id, email="live@x.io")])
        db.session.execute(text("UPDATE companies SET deleted_at = :t WHERE id = :c"), {"t": old, "c": gone.company_id})
        db.session.commit()
        removed = purge_soft_deleted()
        assert removed == {"companies": 1, "leads": 1, "documents": 1}
        assert not storage.exists(f"{acme.company_id}/{agent_id}/old.txt")
        assert storage.exists(f"{acme.company_id}/{agent_id}/recent.txt")
        left = sorted(db.session.execute(text("SELECT email FROM leads")).scalars())
        assert left == ["live@x.io", "recent@x.io"]
        assert db.session.execute(text("SELECT count(*) FROM users WHERE company_id = :c"),
                                  {"c": gone.company_id}).scalar_one() == 0
        assert purge_soft_deleted() == {}  # nothing left past the grace period
        db.session.remove()
    assert db_traces(app, [str(gone.company_id), gone.admin_email]) == {}
