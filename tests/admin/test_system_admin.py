"""System metrics, audit log and configuration, with the SDK's path aliases."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError

from tests.admin.helpers import admin_headers, audit_rows, bearer, make_user, user_headers
from tests.widget.helpers import make_agent


def _error(call) -> KnowrithmAPIError:
    with pytest.raises(KnowrithmAPIError) as err:
        call()
    return err.value


def _leads(app, tenant, n):
    from knowrithm.domains.leads.models import Lead
    from knowrithm.infra.db import db

    with app.app_context():
        for i in range(n):
            db.session.add(Lead(company_id=tenant.company_id, email=f"m{i}@x.test"))
        db.session.commit()
        db.session.remove()


def test_system_metrics_count_the_last_24_hours(app, companies, sdk_a, sdk_b, sdk_factory, http, super_admin_token):
    make_agent(app, companies[0])
    make_agent(app, companies[0], name="Second")
    _leads(app, companies[0], 3)
    _leads(app, companies[1], 1)

    mine = sdk_a.admin.get_company_system_metrics()
    assert mine["company_id"] == str(companies[0].company_id) and mine["window_hours"] == 24
    assert mine["summary"]["last_24h"]["agents_created"] == 2 and mine["summary"]["last_24h"]["leads_created"] == 3
    assert mine["summary"]["totals"]["agents"] == 2
    series = mine["metrics"]["leads_created"]
    assert len(series) == 24 and sum(p["value"] for p in series) == 3
    assert {"metric_name": "agents_created", "metric_type": "counter"}.items() <= mine["system_health"][0].items()
    assert sdk_b.admin.get_company_system_metrics()["summary"]["last_24h"]["leads_created"] == 1
    assert http.get("/api/v1/admin/metrics", headers=admin_headers(http, companies[1])) \
        .json()["summary"]["last_24h"]["agents_created"] == 0

    sa = sdk_factory()
    headers = bearer(super_admin_token)
    one = sa.admin.get_company_system_metrics(company_id=str(companies[1].company_id), headers=headers)
    assert one["summary"]["last_24h"]["leads_created"] == 1
    platform = sa.admin.get_company_system_metrics(headers=headers)
    assert platform["company_id"] is None and platform["summary"]["last_24h"]["leads_created"] == 4
    figures = platform["platform"]  # queues, workers and the database, now (super admin only)
    assert set(figures["queue_depth"]) == {"critical", "default", "low", "slow", "dead_letter"}
    assert figures["database"]["connections"] >= 1 and figures["database"]["size_bytes"] > 0
    assert figures["database"]["pool_capacity"] > 0 and isinstance(figures["workers_alive"], int)
    assert "platform" not in one and "platform" not in sdk_a.admin.get_company_system_metrics()

    err = _error(lambda: sdk_a.admin.get_company_system_metrics(company_id=str(companies[1].company_id)))
    assert err.status_code == 403
    err = _error(lambda: sa.admin.get_company_system_metrics(company_id=str(uuid.uuid4()), headers=headers))
    assert err.status_code == 404
    assert _error(lambda: sdk_a.admin.get_company_system_metrics(
        headers=user_headers(app, http, companies[0]))).status_code == 403
    resp = http.get("/api/v1/admin/system-metric?company_id=nope", headers=headers)
    assert resp.status_code == 400 and "company_id" in resp.json()["details"]


def test_audit_log_query(app, companies, sdk_a, sdk_b, sdk_for, http, super_admin_token):
    users = [make_user(app, companies[0]) for _ in range(3)]
    for u in users:
        sdk_a.admin.update_user_status(str(u), "suspended", reason="test")
    sdk_a.admin.update_user_status(str(users[0]), "active")
    sdk_b.admin.upsert_system_configuration("b.only", "x")

    changed = sdk_a.admin.get_audit_logs(event_type="admin.user_status_changed")
    assert changed["total"] == 4 and changed["logs"] == changed["data"] and len(changed["logs"]) == 4
    entry = changed["logs"][0]
    assert entry["action"] == entry["event_type"] == "admin.user_status_changed"
    assert entry["timestamp"] == entry["created_at"] and entry["entity_type"] == "user"
    assert entry["ip_address"] == "127.0.0.1" and entry["details"]["to"] == "active"  # newest first
    assert sdk_a.admin.get_audit_logs(event_type="admin.user_status_changed", risk_level="high")["total"] == 3
    assert sdk_a.admin.get_audit_logs(entity_type="config")["total"] == 0  # B's change is not A's business

    window = sdk_a.admin.get_audit_logs(event_type="admin.user_status_changed", limit=2, offset=1)
    assert [e["id"] for e in window["logs"]] == [e["id"] for e in changed["logs"][1:3]]
    assert window["limit"] == 2 and window["offset"] == 1
    paged = http.get("/api/v1/admin/audit-log", params={"action": "admin.user_status", "page": 2, "per_page": 3},
                     headers=admin_headers(http, companies[0])).json()
    assert paged["offset"] == 3 and [e["id"] for e in paged["logs"]] == [changed["logs"][3]["id"]]
    since = (datetime.now(timezone.utc) + timedelta(minutes=5)).isoformat()
    assert http.get("/api/v1/audit-log", params={"start_date": since},
                    headers=admin_headers(http, companies[0])).json()["total"] == 0

    sa = bearer(super_admin_token)
    everything = http.get("/api/v1/audit-log", params={"entity_type": "config"}, headers=sa).json()
    assert everything["total"] == 1 and everything["logs"][0]["company_id"] == str(companies[1].company_id)
    assert audit_rows(app, "admin.audit_log_viewed")  # reading the trail is on the trail

    err = _error(lambda: sdk_a.admin.get_audit_logs(risk_level="apocalyptic"))
    assert err.status_code == 400 and "risk_level" in err.response_data["details"]
    assert _error(lambda: sdk_a.admin.get_audit_logs(limit=0)).status_code == 400
    reader = sdk_for(companies[0], scopes=("read",))
    assert _error(lambda: reader.admin.get_audit_logs()).status_code == 403


def test_system_configuration_scopes_and_secrets(app, companies, sdk_a, sdk_b, sdk_factory, http, super_admin_token):
    sa = sdk_factory()
    headers = bearer(super_admin_token)
    made = sa.admin.upsert_system_configuration("smtp.password", "hunter2", is_sensitive=True,
                                                description="mail relay", headers=headers)
    assert made["config"]["config_value"] == "hunter2" and made["config"]["scope"] == "platform"
    sa.admin.upsert_system_configuration("max_agents", 10, headers=headers)
    assert sa.admin.upsert_system_configuration("max_agents", 12, headers=headers)["message"] == "Configuration updated"

    # A company admin sees platform values, secrets masked, and writes only its own override.
    seen = sdk_a.admin.get_system_configuration()
    assert seen["config"] == {"max_agents": 12, "smtp.password": "********"}
    secret = next(e for e in seen["configs"] if e["config_key"] == "smtp.password")
    assert secret["value_hidden"] is True and secret["is_sensitive"] is True
    override = sdk_a.admin.upsert_system_configuration("max_agents", 3, config_type="integer")
    assert override["config"]["scope"] == "company" and override["config"]["company_id"] == str(companies[0].company_id)
    assert sdk_a.admin.get_system_configuration()["config"]["max_agents"] == 3
    assert sdk_b.admin.get_system_configuration()["config"]["max_agents"] == 12
    assert sa.admin.get_system_configuration(headers=headers)["config"] == {"max_agents": 12,
                                                                           "smtp.password": "hunter2"}
    resp = http.patch("/api/v1/config", json={"config_key": "x", "config_value": 1,
                                               "company_id": str(companies[1].company_id)},
                      headers=admin_headers(http, companies[0]))
    assert resp.status_code == 403
    assert "x" not in sdk_b.admin.get_system_configuration()["config"]

    rows = audit_rows(app, "config.created")
    secret_row = next(r for r in rows if r.details["config_key"] == "smtp.password")
    assert secret_row.details["value"] == "(hidden)" and secret_row.risk_level == "high"
    assert audit_rows(app, "admin.sensitive_config_viewed")


def test_system_configuration_bad_input_and_roles(app, companies, sdk_a, sdk_for, http):
    err = _error(lambda: sdk_a.admin.upsert_system_configuration("limit", "ten", config_type="integer"))
    assert err.status_code == 400 and err.response_data["details"]
    err = _error(lambda: sdk_a.admin.upsert_system_configuration("bad key!", 1))
    assert err.status_code == 400 and "config_key" in err.response_data["details"]
    err = _error(lambda: sdk_a.admin.upsert_system_configuration("k", 1, config_type="yaml"))
    assert err.status_code == 400 and "config_type" in err.response_data["details"]
    resp = http.patch("/api/v1/config", json={"config_value": 1}, headers=admin_headers(http, companies[0]))
    assert resp.status_code == 400 and "config_key" in resp.json()["details"]
    writer = sdk_for(companies[0], scopes=("read", "write"))
    assert _error(lambda: writer.admin.get_system_configuration()).status_code == 403
    assert _error(lambda: writer.admin.upsert_system_configuration("k", 1)).status_code == 403
    plain = user_headers(app, http, companies[0])
    assert _error(lambda: sdk_a.admin.upsert_system_configuration("k", 1, headers=plain)).status_code == 403
    assert sdk_a.admin.get_system_configuration()["config"] == {}
