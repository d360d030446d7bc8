"""Retention: the per-company settings route (defaults, floor, 400 below it) and the nightly run,
with backdated rows showing that each class removes exactly what it should, in bounded batches."""
from __future__ import annotations

import io
import uuid
from datetime import timedelta

from sqlalchemy import text

from tests.conftest import make_api_key
from tests.lifecycle.test_erasure import _login

OLD, NEW = 40, 10  # days ago; the company keeps 30 days of everything


def test_retention_settings_route(app, settings, companies, http, super_admin_token):
    acme, globex = companies
    admin_a, admin_b = _login(http, acme.admin_email, acme.password), _login(http, globex.admin_email, globex.password)
    url = f"/api/v1/company/{acme.company_id}/retention"
    got = http.get(url, headers=admin_a).json()
    assert got["policy"] == {} and got["effective"]["request_logs"] == settings.RETENTION_REQUEST_LOGS_DAYS
    assert got["audit_log_floor_days"] == settings.RETENTION_AUDIT_LOG_FLOOR_DAYS

    below = http.put(url, headers=admin_a, json={"audit_log": settings.RETENTION_AUDIT_LOG_FLOOR_DAYS - 1})
    assert below.status_code == 400 and below.json()["code"] == "RETENTION_BELOW_FLOOR"
    assert http.put(url, headers=admin_a, json={"conversations": 0}).status_code == 400
    assert http.put(url, headers=admin_a, json={"messages": 5}).status_code == 400  # unknown class
    assert http.put(url, headers=admin_b, json={"conversations": 30}).status_code == 404
    assert http.get(url, headers=admin_b).status_code == 404
    key, secret = make_api_key(app, acme, scopes=("read", "write"))
    assert http.put(url, headers={"X-API-Key": key, "X-API-Secret": secret}, json={"leads": 5}).status_code == 403

    ok = http.put(url, headers=admin_a, json={"conversations": 30, "leads": None, "audit_log": 100})
    assert ok.status_code == 200, ok.text
    assert ok.json()["policy"] == {"conversations": 30, "leads": None, "audit_log": 100}
    assert ok.json()["effective"]["conversations"] == 30 and ok.json()["effective"]["leads"] is None
    # The super admin raises the floor: the company's shorter audit retention is lifted to it.
    sa = {"Authorization": f"Bearer {super_admin_token}"}
    assert http.put("/api/v1/super-admin/retention-floor", headers=admin_a,
                    json={"audit_log_floor_days": 120}).status_code == 403
    assert http.put("/api/v1/super-admin/retention-floor", headers=sa, json={"audit_log_floor_days": 120}).json()[
        "audit_log_floor_days"] == 120
    assert http.get(url, headers=admin_a).json()["effective"]["audit_log"] == 120
    assert http.put(url, headers=admin_a, json={"audit_log": 110}).status_code == 400


def _backdated(app, tenant, agent_id, tag: str) -> dict:
    """One old and one recent row of every class for the tenant; returns their ids by class."""
    from knowrithm.domains.audit.models import AuditLog
    from knowrithm.domains.analytics.models import ApiRequestLog
    from knowrithm.domains.conversations.models import Conversation, Message
    from knowrithm.domains.documents.models import Document
    from knowrithm.domains.leads.models import Lead
    from knowrithm.infra.db import db, utcnow
    from knowrithm.infra.tasks import TaskRecord
    from knowrithm.integrations.storage import get_storage

    now = utcnow()
    old, new = now - timedelta(days=OLD), now - timedelta(days=NEW)
    cid = tenant.company_id
    ids: dict[str, dict[str, str]] = {}

    def add(kind: str, which: str, row) -> None:
        db.session.add(row)
        db.session.flush()
        ids.setdefault(kind, {})[which] = str(row.id)

    with app.app_context():
        storage = get_storage(app.config["SETTINGS"])
        for which, at in (("old", old), ("new", new)):
            conv = Conversation(company_id=cid, agent_id=agent_id, entity_type="user", created_at=at, updated_at=at,
                                last_activity=at)
            add("conversations", which, conv)
            add("messages", which, Message(company_id=cid, conversation_id=conv.id, role="user", content=tag,
                                           created_at=at, updated_at=at))
            add("leads", which, Lead(company_id=cid, email=f"{which}.{tag}@x.io", last_activity=at, created_at=at,
                                     updated_at=at))
            add("request_logs", which, ApiRequestLog(company_id=cid, method="GET", endpoint="/x", status_code=200,
                                                     response_time_ms=1.0, created_at=at))
            add("audit_log", which, AuditLog(company_id=cid, event_type="lead.updated", created_at=at, details={}))
            key = f"{cid}/{agent_id}/{which}-{tag}.txt"
            storage.save(key, io.BytesIO(b"original"))
            add("uploaded_files", which, Document(company_id=cid, agent_id=agent_id, original_filename="f.txt",
                                                  filename="f.txt", document_type="txt", storage_path=key,
                                                  created_at=at, updated_at=at))
            add("task_records", which, TaskRecord(name="knowrithm.x", company_id=cid, state="SUCCESS",
                                                  created_at=at, finished_at=at))
            db.session.execute(text("INSERT INTO analytics_test_events (company_id, created_at) VALUES (:c, :t)"),
                               {"c": cid, "t": at})
        # Kept whatever their age: an unfinished task, an erasure certificate; a new message in an old chat.
        add("task_records", "old_unfinished", TaskRecord(name="knowrithm.x", company_id=cid, state="STARTED",
                                                         created_at=old))
        add("audit_log", "old_certificate", AuditLog(company_id=cid, event_type="erasure.lead", created_at=old,
                                                     details={}))
        db.session.commit()
        db.session.remove()
    return ids


def _present(app, tenant) -> dict[str, set[str]]:
    from knowrithm.infra.db import db

    tables = {"conversations": "conversations", "messages": "messages", "leads": "leads",
              "request_logs": "api_request_logs", "audit_log": "audit_logs", "task_records": "task_records"}
    with app.app_context():
        out = {kind: {str(i) for i in db.session.execute(text(f"SELECT id FROM {t} WHERE company_id = :c"),
                                                          {"c": tenant.company_id}).scalars()}
               for kind, t in tables.items()}
        out["uploaded_files"] = {str(i) for i in db.session.execute(text(
            "SELECT id FROM documents WHERE company_id = :c AND storage_path IS NOT NULL"),
            {"c": tenant.company_id}).scalars()}
        out["documents"] = {str(i) for i in db.session.execute(text(
            "SELECT id FROM documents WHERE company_id = :c"), {"c": tenant.company_id}).scalars()}
        out["analytics_events"] = {str(n) for n in db.session.execute(text(
            "SELECT count(*) FROM analytics_test_events WHERE company_id = :c"), {"c": tenant.company_id}).scalars()}
        db.session.remove()
    return out


def test_each_class_removes_exactly_what_it_should(app, settings, companies, agent_ids):
    from knowrithm.domains.lifecycle import retention
    from knowrithm.infra.db import db

    acme, globex = companies
    with app.app_context():  # a table added later (here by the test) is found in the catalog
        db.session.execute(text("CREATE TABLE analytics_test_events (id serial PRIMARY KEY, company_id uuid, "
                                "created_at timestamptz NOT NULL)"))
        db.session.commit()
    try:
        a = _backdated(app, acme, uuid.UUID(agent_ids[0]), "acme")
        b = _backdated(app, globex, uuid.UUID(agent_ids[1]), "globex")
        b_before = _present(app, globex)
        with app.app_context():
            retention.set_policy(company_id=acme.company_id, actor=None, changes={
                "conversations": 30, "leads": 30, "request_logs": 30, "analytics_events": 30,
                "audit_log": settings.RETENTION_AUDIT_LOG_FLOOR_DAYS, "uploaded_files": 30, "task_records": 30})
            # The floor holds the audit log longer than 30 days: backdate one row past it too.
            db.session.execute(text("UPDATE audit_logs SET created_at = now() - interval '400 days' WHERE id = :i"),
                               {"i": a["audit_log"]["old"]})
            db.session.commit()
            summary = retention.enforce_all()
            db.session.remove()
        assert summary["complete"] is True
        left = _present(app, acme)
        for kind in ("conversations", "messages", "leads", "request_logs", "uploaded_files"):
            assert a[kind]["old"] not in left[kind] and a[kind]["new"] in left[kind], kind
        assert left["task_records"] >= {a["task_records"]["new"], a["task_records"]["old_unfinished"]}
        assert a["task_records"]["old"] not in left["task_records"]
        assert a["audit_log"]["old"] not in left["audit_log"]
        assert {a["audit_log"]["new"], a["audit_log"]["old_certificate"]} <= left["audit_log"]
        assert left["analytics_events"] == {"1"}
        assert a["uploaded_files"]["old"] in left["documents"]  # the document stays, its original file goes
        from knowrithm.integrations.storage import get_storage

        storage = get_storage(settings)
        assert not storage.exists(f"{acme.company_id}/{agent_ids[0]}/old-acme.txt")
        assert storage.exists(f"{acme.company_id}/{agent_ids[0]}/new-acme.txt")
        # The other company keeps the defaults: none of its rows were within their reach.
        after_b = _present(app, globex)
        assert after_b["request_logs"] == b_before["request_logs"] and after_b["leads"] == b_before["leads"]
        assert after_b["conversations"] == b_before["conversations"]
        assert b["task_records"]["new"] in after_b["task_records"]
        # The run is on record, per company, with what it removed.
        with app.app_context():
            [run] = retention.last_runs(acme.company_id)
            db.session.remove()
        assert run["removed"]["request_logs"] == 1 and run["removed"]["conversations"] == 1
        assert run["removed"]["leads"] == 1 and run["removed"]["uploaded_files"] == 1
        assert run["removed"]["analytics_events"] == 1 and run["complete"] is True
    finally:
        with app.app_context():
            db.session.execute(text("DROP TABLE IF EXISTS analytics_test_events"))
            db.session.commit()
            db.session.remove()


def test_a_large_backlog_is_removed_in_bounded_batches(app, settings, companies, monkeypatch):
    from knowrithm.domains.analytics.models import ApiRequestLog
    from knowrithm.domains.lifecycle import retention
    from knowrithm.infra.db import db, utcnow

    acme, _ = companies
    monkeypatch.setattr(settings, "RETENTION_BATCH_SIZE", 3)
    monkeypatch.setattr(settings, "RETENTION_MAX_BATCHES", 2)
    with app.app_context():
        old = utcnow() - timedelta(days=settings.RETENTION_REQUEST_LOGS_DAYS + 5)
        db.session.add_all([ApiRequestLog(company_id=acme.company_id, method="GET", endpoint="/x", status_code=200,
                                          response_time_ms=1.0, created_at=old) for _ in range(10)])
        db.session.commit()
        first = retention.enforce_all()
        second = retention.enforce_all()
        db.session.remove()
    assert first["removed"]["request_logs"] == 6 and first["complete"] is False
    assert second["removed"]["request_logs"] == 4 and second["complete"] is True
