"""Shared reference data belongs to the platform: a company cannot rename or move it.

The hole, as found by fuzzing: one tenant renamed the seeded state "California" and moved it
to Canada for every company."""
from __future__ import annotations

from tests.admin.helpers import admin_headers, bearer
from tests.conftest import make_api_key


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
