"""Shared reference data belongs to the platform: a company cannot rename or move it.

The hole, as found by fuzzing: one tenant renamed the seeded state "California" and moved it
to Canada for every company."""
from __future__ import annotations

from tests.admin.helpers import admin_headers, bearer
from tests.conftest import make_api_key, poll_task


def _california(http):
    http.get("/api/v1/address-seed")
    countries = {c["iso_code"]: c for c in http.get("/api/v1/country").json()}
    states = http.get(f"/api/v1/state/country/{countries['US']['id']}").json()
    return countries, next(s for s in states if s["name"] == "California")


def test_company_admins_cannot_rename_or_move_shared_geography(app, companies, http, super_admin_token):
    countries, ca = _california(http)
    key, secret = make_api_key(app, companies[0], scopes=("full_access",))
    city = http.get(f"/api/v1/city/state/{ca['id']}").json()[0]
    for headers in (admin_headers(http, companies[0]), {"X-API-Key": key, "X-API-Secret": secret}):
        for method, path, body in [
            ("PATCH", f"/api/v1/state/{ca['id']}", {"name": "Hacked", "country_id": countries["CA"]["id"]}),
            ("PATCH", f"/api/v1/country/{countries['US']['id']}", {"name": "Nowhere"}),
            ("PATCH", f"/api/v1/city/{city['id']}", {"name": "Nowhere"}),
            ("POST", "/api/v1/country", {"name": "Tenantland", "iso_code": "TQ"}),
            ("POST", "/api/v1/state", {"name": "Tenant State", "country_id": countries["US"]["id"]}),
            ("POST", "/api/v1/city", {"name": "Tenant City", "state_id": ca["id"]}),
        ]:
            resp = http.request(method, path, headers=headers, json=body)
            assert resp.status_code == 403, (method, path, resp.text)
    assert http.get(f"/api/v1/state/{ca['id']}").json()["name"] == "California"
    assert http.get(f"/api/v1/state/{ca['id']}").json()["country"]["id"] == countries["US"]["id"]
    assert "Tenantland" not in [c["name"] for c in http.get("/api/v1/country").json()]
    # The super admin may still correct shared data (accepted; a task applies it).
    resp = http.patch(f"/api/v1/city/{city['id']}", headers=bearer(super_admin_token),
                      json={"postal_code_prefix": city.get("postal_code_prefix") or "90"})
    assert resp.status_code == 202, resp.text


def test_platform_llm_catalog_rows_are_read_only_for_companies(app, companies, http):
    key, secret = make_api_key(app, companies[0], scopes=("full_access",))
    headers = {"X-API-Key": key, "X-API-Secret": secret}
    providers = http.get("/api/v1/providers", headers=headers).json()
    listed = providers.get("providers") or providers.get("data") or []
    platform = next(p for p in listed if p.get("company_id") is None)
    resp = http.put(f"/api/v1/providers/{platform['id']}", headers=headers, json={"name": "Renamed by a tenant"})
    assert resp.status_code == 403, resp.text
    assert http.delete(f"/api/v1/providers/{platform['id']}", headers=headers).status_code == 403


def _platform_provider(app, value: str):
    from sqlalchemy import select

    from knowrithm.domains.llm.models import Provider
    from knowrithm.infra.db import db

    with app.app_context():
        stmt = (select(Provider).where(Provider.company_id.is_(None), Provider.value == value)
                .execution_options(include_deleted=True, all_companies=True))
        row = db.session.execute(stmt).scalars().one()
        return {"id": row.id, "label": row.label, "deleted_at": row.deleted_at, "status": row.status}


def _change_platform_provider(app, value: str, **fields):
    from sqlalchemy import update

    from knowrithm.domains.llm.models import Provider
    from knowrithm.infra.db import db

    with app.app_context():
        db.session.execute(update(Provider).where(Provider.company_id.is_(None), Provider.value == value)
                           .values(**fields).execution_options(include_deleted=True, all_companies=True))
        db.session.commit()


def _seed_catalog(http, headers) -> dict:
    ack = http.post("/api/v1/settings/providers/seed", headers=headers)
    assert ack.status_code == 202, ack.text
    done = poll_task(http, ack.json()["status_url"], headers=headers)
    assert done["status"] == "completed", done
    return done["result"]


def test_only_the_super_admin_reseeds_the_provider_catalog(app, companies, http, super_admin_token):
    """A company's write key once reset the platform's catalog: it restored providers the super
    admin had deleted and undid the super admin's edits, for every company."""
    from sqlalchemy import func, select

    from knowrithm.domains.audit.models import AuditLog
    from knowrithm.domains.llm.seed import seed
    from knowrithm.infra.db import db, utcnow

    key, secret = make_api_key(app, companies[0], scopes=("full_access",))
    tenant = {"X-API-Key": key, "X-API-Secret": secret}
    try:
        # The super admin retires vLLM and relabels Ollama for the whole platform.
        _change_platform_provider(app, "vllm", deleted_at=utcnow(), status="inactive")
        _change_platform_provider(app, "ollama", label="Ollama (ops-approved)")
        for headers in (tenant, admin_headers(http, companies[0])):
            result = _seed_catalog(http, headers)
            assert result["providers_created"] == result["providers_updated"] == 0, result
            assert "only a super admin" in result["message"]
            assert _platform_provider(app, "vllm")["deleted_at"] is not None
            assert _platform_provider(app, "ollama")["label"] == "Ollama (ops-approved)"
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(AuditLog)
                                     .where(AuditLog.event_type == "catalog.seeded")) == 0

        result = _seed_catalog(http, bearer(super_admin_token))
        assert result["providers_updated"] >= 2 and result["message"] == "Provider catalog seeded"
        vllm = _platform_provider(app, "vllm")
        assert vllm["deleted_at"] is None and vllm["status"] == "active"
        assert _platform_provider(app, "ollama")["label"] == "Ollama"
        with app.app_context():
            row = db.session.execute(select(AuditLog).where(AuditLog.event_type == "catalog.seeded")).scalar_one()
            assert row.user_role == "super_admin" and row.details["providers_updated"] >= 2
    finally:
        with app.app_context():
            seed()


def test_the_public_geography_seed_never_brings_back_what_the_super_admin_removed(app, http, super_admin_token):
    from sqlalchemy import delete, select

    from knowrithm.domains.geography.models import City
    from knowrithm.domains.geography.seed import seed
    from knowrithm.infra.db import db

    _, ca = _california(http)
    cities = http.get(f"/api/v1/city/state/{ca['id']}").json()
    removed = cities[0]["name"]
    with app.app_context():
        db.session.execute(delete(City).where(City.state_id == ca["id"], City.name == removed))
        db.session.commit()
    try:
        for headers in ({}, bearer(super_admin_token)):  # anyone may call it; it writes nothing now
            body = http.get("/api/v1/address-seed", headers=headers).json()
            assert body["created"] == {"countries": 0, "states": 0, "cities": 0}
            assert removed not in [c["name"] for c in http.get(f"/api/v1/city/state/{ca['id']}").json()]
    finally:
        with app.app_context():  # what `knowrithm db upgrade` does: add the missing reference rows
            assert seed()["created"]["cities"] == 1
            assert db.session.execute(select(City.id).where(City.name == removed)).first() is not None
