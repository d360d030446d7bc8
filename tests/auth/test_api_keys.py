"""API keys, their scopes and credential precedence (docs/api-compatibility.md, "Authentication") through
knowrithm-py."""
from __future__ import annotations

import uuid

import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError

from tests.conftest import make_api_key
from tests.infra.test_conventions import assert_envelope


def api_error(call) -> KnowrithmAPIError:
    with pytest.raises(KnowrithmAPIError) as info:
        call()
    return info.value


def audit_events(app, **where) -> list[str]:
    from sqlalchemy import select

    from knowrithm.domains.audit.models import AuditLog
    from knowrithm.infra.db import db

    with app.app_context():
        stmt = select(AuditLog.event_type)
        for field, value in where.items():
            stmt = stmt.where(getattr(AuditLog, field) == value)
        events = list(db.session.execute(stmt).scalars())
        db.session.remove()
    return events


# --- create, list, revoke -------------------------------------------------------------------------------

def test_create_list_use_and_revoke_a_key(sdk_factory, admin_a, companies, app):
    sdk = sdk_factory()
    created = sdk.api_keys.create_api_key({"name": "ci", "scopes": ["read"], "expires_in_days": 30},
                                          headers=admin_a)
    assert set(created) >= {"message", "api_key", "api_secret", "secret", "details"}
    assert created["api_key"].startswith("ak_") and created["api_secret"].startswith("as_")
    assert created["secret"] == created["api_secret"]
    details = created["details"]
    assert details["key_prefix"] == created["api_key"][:8] and details["scopes"] == ["read"]
    assert details["status"] == "active" and details["expires_at"]
    assert {"rate_limit_per_hour", "rate_limit_per_day", "usage_count", "last_used_at"} <= set(details)

    listed = sdk.api_keys.list_api_keys(admin_a)["api_keys"]
    assert [k["id"] for k in listed] == [details["id"]]
    assert "secret" not in str(listed).lower().replace("secret_", "")  # the secret never comes back

    client = sdk_factory(created["api_key"], created["api_secret"])
    assert client.auth.get_current_user(headers={})["user"]["id"] == str(companies[0].admin_id)

    assert sdk.api_keys.delete_api_key(details["id"], admin_a)["message"]
    err = api_error(lambda: client.auth.get_current_user(headers={}))
    assert err.status_code == 401 and err.error_code == "API_KEY_REVOKED"
    assert sdk.api_keys.list_api_keys(admin_a)["api_keys"] == []
    assert sdk.api_keys.delete_api_key(details["id"], admin_a)["message"]  # idempotent for retries
    events = audit_events(app, entity_id=details["id"])
    assert events.count("auth.api_key_created") == 1 and events.count("auth.api_key_revoked") == 1


def test_key_management_is_jwt_only(sdk_a):
    # sdk_a carries a full_access key, but key management needs a Bearer token.
    for call in (lambda: sdk_a.api_keys.create_api_key({"name": "x"}),
                 lambda: sdk_a.api_keys.list_api_keys({}),
                 lambda: sdk_a.api_keys.delete_api_key(str(uuid.uuid4()), {})):
        assert api_error(call).status_code == 401


def test_create_key_bad_input(sdk_factory, admin_a):
    sdk = sdk_factory()
    err = api_error(lambda: sdk.api_keys.create_api_key({"name": "x", "scopes": ["root"]}, headers=admin_a))
    assert err.status_code == 400 and "scopes" in err.response_data["details"]
    err = api_error(lambda: sdk.api_keys.create_api_key({"name": "", "expires_in_days": 0}, headers=admin_a))
    assert err.status_code == 400 and {"name", "expires_in_days"} <= set(err.response_data["details"])
    err = api_error(lambda: sdk.api_keys.create_api_key({"name": "x" * 101}, headers=admin_a))
    assert err.status_code == 400


def test_default_scopes_are_read_and_write(sdk_factory, admin_a):
    created = sdk_factory().api_keys.create_api_key({"name": "defaults"}, headers=admin_a)
    assert created["details"]["scopes"] == ["read", "write"]


def test_other_company_cannot_revoke_a_key(sdk_factory, admin_a, admin_b, app, companies):
    sdk = sdk_factory()
    created = sdk.api_keys.create_api_key({"name": "mine"}, headers=admin_a)
    err = api_error(lambda: sdk.api_keys.delete_api_key(created["details"]["id"], admin_b))
    assert err.status_code == 404
    client = sdk_factory(created["api_key"], created["api_secret"])
    assert client.auth.get_current_user(headers={})["user"]["id"] == str(companies[0].admin_id)
    assert api_error(lambda: sdk.api_keys.delete_api_key("not-a-uuid", admin_a)).status_code == 404


def test_plain_user_cannot_revoke_a_colleagues_key(sdk_factory, admin_a, login):
    sdk = sdk_factory()
    created = sdk.api_keys.create_api_key({"name": "admin's"}, headers=admin_a)
    sdk.auth.create_user({"email": "u@acme.test", "password": "Plain-user-pass-1"}, headers=admin_a)
    _, user = login("u@acme.test", "Plain-user-pass-1")
    assert api_error(lambda: sdk.api_keys.delete_api_key(created["details"]["id"], user)).status_code == 404
    own = sdk.api_keys.create_api_key({"name": "own"}, headers=user)
    assert sdk.api_keys.delete_api_key(own["details"]["id"], user)["message"]


# --- B4 validate ---------------------------------------------------------------------------

def test_validate_with_key_reports_key_info(sdk_for, companies):
    client = sdk_for(companies[0], scopes=("read",))
    client.auth.get_current_user(headers={})
    body = client.api_keys.validate_credentials({})
    assert body["valid"] is True and body["auth_type"] == "api_key"
    assert body["user"]["id"] == str(companies[0].admin_id) and body["company"]["id"] == str(companies[0].company_id)
    info = body["api_key_info"]
    assert info["scopes"] == ["read"] and info["key_prefix"].startswith("ak_")
    assert body["rate_limits"]["per_hour"] == info["rate_limit_per_hour"]
    assert body["rate_limits"]["used_this_hour"] == 2  # the me call and this one
    assert body["metadata"]["api_key_info"] == info and body["metadata"]["user"] == body["user"]


def test_validate_with_jwt_has_no_key_info(sdk_a, admin_a, companies):
    body = sdk_a.api_keys.validate_credentials(admin_a)  # key headers are present too: Bearer wins
    assert body["auth_type"] == "jwt" and "api_key_info" not in body
    assert body["user"]["id"] == str(companies[0].admin_id)


def test_validate_rejects_bad_credentials(sdk_factory, http):
    err = api_error(lambda: sdk_factory("ak_" + "0" * 48, "as_nope").api_keys.validate_credentials({}))
    assert err.status_code == 401 and err.error_code == "INVALID_API_KEY"
    assert_envelope(http.get("/api/v1/auth/validate"), 401)
    assert_envelope(http.get("/api/v1/auth/validate", headers={"X-API-Key": "ak_x"}), 401)  # secret missing


# --- credentials: precedence, expiry, malformed --------------------------------------------

def test_bearer_wins_over_api_key(sdk_for, companies, login):
    client_b = sdk_for(companies[1])  # Globex key on the session
    _, a_jwt = login(companies[0].admin_email, companies[0].password)
    assert client_b.auth.get_current_user(headers=a_jwt)["company"]["id"] == str(companies[0].company_id)
    assert client_b.auth.get_current_user(headers={})["company"]["id"] == str(companies[1].company_id)


def test_bad_bearer_falls_back_to_a_good_key(sdk_a, companies):
    body = sdk_a.auth.get_current_user(headers={"Authorization": "Bearer junk"})
    assert body["user"]["id"] == str(companies[0].admin_id)


def test_wrong_secret_expired_and_malformed_keys_are_401(app, companies, sdk_factory):
    from datetime import timedelta

    from knowrithm.domains.auth.models import ApiKey
    from knowrithm.infra.db import db, utcnow

    key, secret = make_api_key(app, companies[0], ("read",))
    err = api_error(lambda: sdk_factory(key, secret + "x").auth.get_current_user(headers={}))
    assert err.status_code == 401 and err.error_code == "INVALID_API_KEY"
    err = api_error(lambda: sdk_factory("garbage", "garbage").auth.get_current_user(headers={}))
    assert err.status_code == 401
    with app.app_context():
        from sqlalchemy import update

        db.session.execute(update(ApiKey).where(ApiKey.key == key).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        db.session.remove()
    from knowrithm.domains.auth import key_cache

    with app.app_context():
        key_cache.invalidate()  # a bulk UPDATE fires no ORM events
    err = api_error(lambda: sdk_factory(key, secret).auth.get_current_user(headers={}))
    assert err.status_code == 401 and err.error_code == "API_KEY_EXPIRED"


def test_suspending_the_owner_disables_the_key_at_once(app, companies, sdk_for):
    from knowrithm.domains.auth.models import User
    from knowrithm.infra.db import db

    client = sdk_for(companies[0], scopes=("read",))
    assert client.auth.get_current_user(headers={})  # warms the key cache
    with app.app_context():
        db.session.get(User, companies[0].admin_id).status = "suspended"
        db.session.commit()
        db.session.remove()
    err = api_error(lambda: client.auth.get_current_user(headers={}))
    assert err.status_code == 401 and err.error_code == "ACCOUNT_INACTIVE"


def test_public_routes_ignore_bad_credentials(sdk_factory, http):
    # The SDK always sends its key pair, stale or not; public routes must not care.
    assert "access_token" in sdk_factory("ak_stale", "as_stale").auth.register_admin(
        {"company_name": "Stale", "email": "s@stale.test", "password": "Stale-key-pass-1"})
    resp = http.get("/api/v1/auth/super-admin", headers={"X-API-Key": "ak_bad", "X-API-Secret": "as_bad",
                                                         "Authorization": "Bearer junk"})
    assert resp.status_code == 200


# --- scopes -------------------------------------------------------------------------------

def _attempts(client):
    """One call per method class: GET (read), PUT (update/write), POST (write)."""
    return {
        "GET": lambda: client.users.get_profile({}),
        "PUT": lambda: client.users.update_profile({"timezone": "UTC"}, headers={}),
        "POST": lambda: client.auth.create_user({"email": f"{uuid.uuid4().hex[:8]}@acme.test",
                                                 "password": "Scoped-pass-123"}),
    }


@pytest.mark.parametrize("scopes, allowed", [
    (("read",), {"GET"}),
    (("write",), {"PUT", "POST"}),
    (("update",), {"PUT"}),
    (("read", "write"), {"GET", "PUT", "POST"}),
    (("full_access",), {"GET", "PUT", "POST"}),
])
def test_scope_rules(sdk_for, companies, scopes, allowed):
    client = sdk_for(companies[0], scopes=scopes)
    for method, call in _attempts(client).items():
        if method in allowed:
            call()
        else:
            err = api_error(call)
            assert err.status_code == 403, (scopes, method)


def test_delete_scope_satisfies_delete_only(companies, sdk_for):
    """`delete` covers DELETE only (no DELETE route takes keys in this domain: checked on the rule)."""
    from knowrithm.infra.auth import Principal

    p = Principal(kind="api_key", company_id=companies[0].company_id, scopes=frozenset({"delete"}))
    assert p.has_scope("write", "DELETE") and not p.has_scope("write", "POST")
    assert not p.has_scope("write", "PUT") and not p.has_scope("read", "GET")
    # And through HTTP: a delete-only key is refused on GET and POST routes.
    client = sdk_for(companies[0], scopes=("delete",))
    assert api_error(lambda: client.users.get_profile({})).status_code == 403
    assert api_error(lambda: client.auth.create_user({"email": "d@acme.test", "password": "Delete-only-1"})
                     ).status_code == 403


def test_admin_scope_is_needed_for_usage_analytics(sdk_for, companies):
    assert api_error(lambda: sdk_for(companies[0], scopes=("read",)).api_keys.get_api_key_overview()
                     ).status_code == 403
    assert sdk_for(companies[0], scopes=("read", "admin")).api_keys.get_api_key_overview()["success"] is True


# --- per-key rate limits ------------------------------------------------------------------

def test_per_key_hourly_limit_is_enforced(sdk_factory, admin_a, http):
    created = sdk_factory().api_keys.create_api_key({"name": "tight", "scopes": ["read"], "rate_limit_per_hour": 3},
                                                    headers=admin_a)
    headers = {"X-API-Key": created["api_key"], "X-API-Secret": created["api_secret"]}
    assert [http.get("/api/v1/user/profile", headers=headers).status_code for _ in range(3)] == [200] * 3
    resp = http.get("/api/v1/user/profile", headers=headers)
    body = assert_envelope(resp, 429, "API_KEY_RATE_LIMITED")
    assert 1 <= int(resp.headers["Retry-After"]) <= 3601
    assert body["details"]["hourly_limit"] == 3
    # The JWT of the same user is not throttled by the key's budget.
    assert http.get("/api/v1/user/profile", headers=admin_a).status_code == 200


def test_usage_count_and_last_used_are_updated(sdk_factory, admin_a):
    sdk = sdk_factory()
    created = sdk.api_keys.create_api_key({"name": "counted", "scopes": ["read"]}, headers=admin_a)
    client = sdk_factory(created["api_key"], created["api_secret"])
    for _ in range(4):
        client.users.get_profile({})
    listed = {k["id"]: k for k in sdk.api_keys.list_api_keys(admin_a)["api_keys"]}
    row = listed[created["details"]["id"]]
    assert row["usage_count"] == 4 and row["last_used_at"]


def test_redis_outage_is_a_503_for_tokens_not_a_500(http, admin_a, monkeypatch):
    import redis

    from knowrithm.domains.auth import key_cache

    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(key_cache, "get_redis", lambda: dead)
    resp = http.get("/api/v1/auth/user/me", headers=admin_a)
    assert_envelope(resp, 503, "AUTH_UNAVAILABLE")
    assert resp.headers["Retry-After"] == "5"
