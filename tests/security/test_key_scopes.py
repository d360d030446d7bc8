"""A key never carries more power than its owner's role: at creation and on every use.

Written from the user's side (plain HTTP), as the hole was found: a `user` created an
`admin` key and read the admin user list and the audit log with it."""
from __future__ import annotations

import uuid

import pytest

from tests.admin.helpers import PLAIN_PASSWORD, admin_headers, bearer, login, make_user
from tests.infra.test_conventions import assert_envelope


def _create_key(http, headers, scopes, **extra):
    return http.post("/api/v1/auth/api-keys", headers=headers, json={"name": "k", "scopes": scopes, **extra})


def _key_headers(resp) -> dict:
    body = resp.json()
    return {"X-API-Key": body["api_key"], "X-API-Secret": body["api_secret"]}


@pytest.mark.parametrize("scopes", [["admin"], ["full_access"], ["read", "admin"]])
def test_a_user_cannot_create_a_key_stronger_than_its_role(app, companies, http, scopes):
    make_user(app, companies[0], email="plain@acme.test")
    user = bearer(login(http, "plain@acme.test", PLAIN_PASSWORD))
    resp = _create_key(http, user, scopes)
    assert_envelope(resp, 403, "SCOPE_NOT_ALLOWED")
    # Nothing was stored.
    assert http.get("/api/v1/auth/api-keys", headers=user).json()["api_keys"] == []


def test_a_user_key_with_every_obtainable_scope_never_reaches_admin_routes(app, companies, http):
    make_user(app, companies[0], email="plain@acme.test")
    user = bearer(login(http, "plain@acme.test", PLAIN_PASSWORD))
    resp = _create_key(http, user, ["read", "write", "update", "delete"])
    assert resp.status_code == 201, resp.text
    key = _key_headers(resp)
    assert http.get("/api/v1/auth/user/me", headers=key).status_code == 200
    for method, path, body in [("GET", "/api/v1/admin/user", None), ("GET", "/api/v1/audit-log", None),
                               ("PATCH", "/api/v1/config", {"config_key": "x", "config_value": "y"}),
                               ("POST", f"/api/v1/user/{companies[0].admin_id}/force-password-reset", None),
                               ("PATCH", f"/api/v1/user/{companies[0].admin_id}/status", {"status": "suspended"})]:
        resp = http.request(method, path, headers=key, json=body)
        assert resp.status_code == 403, (method, path, resp.text)
    # The admin was neither suspended nor forced to reset.
    assert http.get("/api/v1/auth/user/me", headers=admin_headers(http, companies[0])).json()["user"]["status"] \
        == "active"


def test_demotion_removes_a_keys_admin_power_at_once(app, companies, http, super_admin_token):
    make_user(app, companies[0], role="admin", email="boss@acme.test")
    boss = bearer(login(http, "boss@acme.test", PLAIN_PASSWORD))
    resp = _create_key(http, boss, ["read", "admin"])
    assert resp.status_code == 201, resp.text
    key = _key_headers(resp)
    boss_id = http.get("/api/v1/auth/user/me", headers=boss).json()["user"]["id"]
    assert http.get("/api/v1/admin/user", headers=key).status_code == 200  # warms every cache

    resp = http.patch(f"/api/v1/user/{boss_id}/role", headers=bearer(super_admin_token), json={"role": "user"})
    assert resp.status_code == 200, resp.text
    assert_envelope(http.get("/api/v1/admin/user", headers=key), 403, "FORBIDDEN")
    assert http.get("/api/v1/auth/user/me", headers=key).status_code == 200  # read power remains
    assert http.get("/api/v1/auth/validate", headers=key).json().get("scopes") == ["read"]


def test_suspension_and_deletion_stop_the_key_at_once(app, companies, http):
    from knowrithm.domains.auth.models import User
    from knowrithm.infra.db import db, utcnow

    make_user(app, companies[0], role="admin", email="ops@acme.test")
    ops = bearer(login(http, "ops@acme.test", PLAIN_PASSWORD))
    key = _key_headers(_create_key(http, ops, ["read"]))
    ops_id = http.get("/api/v1/auth/user/me", headers=ops).json()["user"]["id"]
    assert http.get("/api/v1/auth/user/me", headers=key).status_code == 200

    admin = admin_headers(http, companies[0])
    assert http.patch(f"/api/v1/user/{ops_id}/status", headers=admin, json={"status": "suspended"}).status_code == 200
    assert_envelope(http.get("/api/v1/auth/user/me", headers=key), 401, "ACCOUNT_INACTIVE")
    assert http.patch(f"/api/v1/user/{ops_id}/status", headers=admin, json={"status": "active"}).status_code == 200
    assert http.get("/api/v1/auth/user/me", headers=key).status_code == 200

    with app.app_context():
        db.session.get(User, uuid.UUID(ops_id)).deleted_at = utcnow()
        db.session.commit()
        db.session.remove()
    assert http.get("/api/v1/auth/user/me", headers=key).status_code == 401


def test_admin_keys_are_for_admins_and_permissions_are_refused(app, companies, http):
    admin = admin_headers(http, companies[0])
    assert _create_key(http, admin, ["admin", "read"]).status_code == 201
    assert _create_key(http, admin, ["full_access"]).status_code == 201
    resp = _create_key(http, admin, ["read"], permissions={"agents": ["00000000-0000-0000-0000-000000000000"]})
    assert_envelope(resp, 400, "PERMISSIONS_UNSUPPORTED")
    assert _create_key(http, admin, ["read"], permissions={}).status_code == 201
