"""Exports: the company zip (a task, a signed expiring link, no secrets, nothing of another
company) and subject-access exports of a lead and a user; 404 across companies, 403 without rights."""
from __future__ import annotations

import io
import json
import time
import zipfile

from tests.admin.helpers import audit_rows
from tests.conftest import make_api_key, poll_task
from tests.lifecycle.helpers import populate
from tests.lifecycle.test_erasure import _login


def test_company_export_zip_and_its_signed_link(app, settings, companies, sdk_factory, http, tmp_path, celery_worker,
                                                monkeypatch):
    acme, globex = companies
    a = populate(app, acme, sdk_factory, http, tmp_path, "plumbusacme")
    admin_a, admin_b = _login(http, acme.admin_email, acme.password), _login(http, globex.admin_email, globex.password)
    # Another company's export: 404; without admin rights: 403.
    assert http.post("/api/v1/exports/company", headers=admin_b, json={"company_id": str(acme.company_id)}
                     ).status_code == 404
    key, secret = make_api_key(app, acme, scopes=("read", "write"))
    assert http.post("/api/v1/exports/company", headers={"X-API-Key": key, "X-API-Secret": secret},
                     json={}).status_code == 403

    from knowrithm.domains.admin.models import SystemConfig
    from knowrithm.infra.db import db

    with app.app_context():  # a configuration entry marked sensitive is exported masked
        db.session.add(SystemConfig(company_id=acme.company_id, config_key="smtp_password", config_value="hunter22",
                                    is_sensitive=True))
        db.session.commit()
        db.session.remove()
    resp = http.post("/api/v1/exports/company", headers=admin_a, json={})
    assert resp.status_code == 202, resp.text
    done = poll_task(http, resp.json()["status_url"], timeout=120)
    assert done["status"] == "completed", done
    assert done["row_counts"]["messages"] >= 2 and done["row_counts"]["files"] == 1

    zipped = http.get(done["download_url"])  # no credentials: the signature is the permission
    assert zipped.status_code == 200 and zipped.headers["Content-Type"] == "application/zip"
    assert len(zipped.content) == done["size"]
    [download] = audit_rows(app, "export.downloaded")  # the link is a credential: each use is on record
    assert download.company_id == acme.company_id and str(download.entity_id) == str(done["export_id"])
    assert download.user_id is None and download.ip_address == "127.0.0.1" and download.risk_level == "high"
    zf = zipfile.ZipFile(io.BytesIO(zipped.content))
    tables = {n[len("tables/"):-len(".json")]: json.loads(zf.read(n)) for n in zf.namelist() if n.startswith("tables/")}
    for name in ("companies", "users", "agents", "documents", "document_chunks", "website_pages",
                 "database_connections", "conversations", "messages", "leads", "audit_logs", "api_keys"):
        assert tables.get(name), f"{name} missing from the export"
    assert "password_hash" not in tables["users"][0] and "secret_hash" not in tables["api_keys"][0]
    assert "url_encrypted" not in tables["database_connections"][0]
    assert "embedding" not in tables["document_chunks"][0] and "chunk_terms" not in tables
    assert [c["config_value"] for c in tables["system_configs"] if c["config_key"] == "smtp_password"] == ["****"]
    assert any(m.get("user_feedback") == 1 for m in tables["messages"])  # feedback travels with its message
    assert tables["leads"][0]["email"] == a.lead_email
    [original] = [n for n in zf.namelist() if n.startswith(f"files/{a.document_id}/")]
    assert b"plumbusacme refund policy" in zf.read(original)
    blob = b"".join(zf.read(n) for n in zf.namelist()).decode("utf-8", "replace")
    assert str(globex.company_id) not in blob and globex.admin_email not in blob and "hunter22" not in blob

    # A forged link is 404; an expired one 410.
    token = done["download_url"].rsplit("/", 1)[1]
    assert http.get(f"/api/v1/exports/download/{token[:-2]}xx").status_code == 404
    from itsdangerous.timed import TimestampSigner

    from knowrithm.domains.lifecycle.export import download_url

    with app.test_request_context(), monkeypatch.context() as patch:  # signed three days ago
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 3 * 24 * 3600)
        stale = download_url(acme.company_id, done["export_id"])
    gone = http.get(stale)
    assert gone.status_code == 410 and gone.json()["code"] == "LINK_EXPIRED"
    # The nightly run removes the zip once its link has expired.
    from datetime import timedelta

    from knowrithm.domains.lifecycle.retention import expire_exports
    from knowrithm.infra.db import utcnow

    with app.app_context():
        assert expire_exports() == 0  # the link is still valid
        assert expire_exports(now=utcnow() + timedelta(seconds=settings.EXPORT_LINK_TTL_SECONDS + 60)) == 1
    assert http.get(done["download_url"]).status_code == 404


def test_subject_access_exports(app, companies, sdk_factory, http, tmp_path, celery_worker):
    from knowrithm.domains.auth.models import User
    from knowrithm.domains.auth.passwords import hash_password
    from knowrithm.infra.db import db

    acme, globex = companies
    a = populate(app, acme, sdk_factory, http, tmp_path, "gazorpacme")
    admin_a, admin_b = _login(http, acme.admin_email, acme.password), _login(http, globex.admin_email, globex.password)
    lead = http.get(f"/api/v1/exports/leads/{a.lead_id}", headers=admin_a).json()
    assert lead["lead"]["email"] == a.lead_email and lead["consents"] == {"data_processing": True, "marketing": False}
    [conv] = lead["conversations"]
    assert [m["role"] for m in conv["messages"]] == ["user", "assistant"]
    assert "gazorpacme refund policy" in conv["messages"][0]["content"]
    assert http.get(f"/api/v1/exports/leads/{a.lead_id}", headers=admin_b).status_code == 404

    with app.app_context():
        db.session.add(User(company_id=acme.company_id, email="clerk@acme.test", username="clerk", role="user",
                            status="active", email_verified=True, password_hash=hash_password("Clerk-Passw0rd!")))
        db.session.commit()
        db.session.remove()
    clerk = _login(http, "clerk@acme.test", "Clerk-Passw0rd!")
    me = http.get("/api/v1/auth/validate", headers=clerk).json()
    clerk_id = me.get("user", {}).get("id") or me.get("user_id")
    mine = http.get(f"/api/v1/exports/users/{clerk_id}", headers=clerk)
    assert mine.status_code == 200 and mine.json()["user"]["email"] == "clerk@acme.test"
    assert "password_hash" not in mine.json()["user"]
    admin = http.get(f"/api/v1/exports/users/{acme.admin_id}", headers=admin_a).json()
    assert [k["key"] for k in admin["api_keys"]] == [a.key] and "secret_hash" not in admin["api_keys"][0]
    keyed = {r["api_key_id"] for r in admin["api_requests"] if r["api_key_id"]}
    assert keyed == {admin["api_keys"][0]["id"]}
    assert http.get(f"/api/v1/exports/users/{acme.admin_id}", headers=clerk).status_code == 403
    assert http.get(f"/api/v1/exports/users/{acme.admin_id}", headers=admin_b).status_code == 404
