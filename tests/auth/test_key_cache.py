"""The credential cache: which changes invalidate it, and the per-key counters it keeps."""
from __future__ import annotations

import time

from tests.conftest import make_api_key


def _generation(app):
    from knowrithm.domains.auth.key_cache import GENERATION_KEY
    from knowrithm.infra.redis import get_redis

    with app.app_context():
        return get_redis().get(GENERATION_KEY)


def test_logins_do_not_invalidate_cached_credentials_but_a_lockout_does(app, companies, http):
    from knowrithm.domains.auth.service import MAX_LOGIN_ATTEMPTS

    tenant = companies[0]
    before = _generation(app)
    ok = http.post("/api/v1/auth/login", json={"email": tenant.admin_email, "password": tenant.password})
    assert ok.status_code == 200  # wrote last_login and login_attempts
    for _ in range(MAX_LOGIN_ATTEMPTS - 1):
        assert http.post("/api/v1/auth/login", json={"email": tenant.admin_email, "password": "Wrong-pass-123"}
                         ).status_code == 401
    assert _generation(app) == before  # bookkeeping columns only
    assert http.post("/api/v1/auth/login", json={"email": tenant.admin_email, "password": "Wrong-pass-123"}
                     ).status_code == 401
    assert _generation(app) != before  # locked_until is cached: every process must reload
    me = http.get("/api/v1/auth/user/me", headers={"Authorization": f"Bearer {ok.json()['access_token']}"})
    assert me.status_code == 423 and me.json()["code"] == "ACCOUNT_LOCKED"


def test_key_counters_expire_with_their_window(app, companies, http):
    from knowrithm.domains.auth.key_cache import COUNTER_PREFIX
    from knowrithm.domains.auth.models import ApiKey
    from knowrithm.infra.db import db
    from knowrithm.infra.redis import get_redis

    key, secret = make_api_key(app, companies[0], ("read",))
    headers = {"X-API-Key": key, "X-API-Secret": secret}
    bodies = [http.get("/api/v1/auth/validate", headers=headers).json() for _ in range(3)]
    assert [b["rate_limits"]["used_this_hour"] for b in bodies] == [1, 2, 3]
    assert bodies[-1]["api_key_info"]["usage"] == {"hourly_requests": 3, "daily_requests": 3}
    with app.app_context():
        key_id = db.session.query(ApiKey.id).filter(ApiKey.key == key).scalar()
        db.session.remove()
        r = get_redis()
        hour, day = int(time.time() // 3600), int(time.time() // 86400)
        assert 0 < r.ttl(f"{COUNTER_PREFIX}{key_id}:h{hour}") <= 3700
        assert 3700 < r.ttl(f"{COUNTER_PREFIX}{key_id}:d{day}") <= 86500


def test_api_keys_fail_open_on_limits_when_redis_is_down(app, companies, http, monkeypatch):
    import redis

    from knowrithm.domains.auth import key_cache

    key, secret = make_api_key(app, companies[0], ("read",))
    headers = {"X-API-Key": key, "X-API-Secret": secret}
    assert http.get("/api/v1/auth/user/me", headers=headers).status_code == 200  # warms the cache
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(key_cache, "get_redis", lambda: dead)
    # Validity still comes from the database; only the per-key counters are skipped.
    assert http.get("/api/v1/auth/user/me", headers=headers).status_code == 200
    bad = http.get("/api/v1/auth/user/me", headers={"X-API-Key": key, "X-API-Secret": secret + "x"})
    assert bad.status_code == 401 and bad.json()["code"] == "INVALID_API_KEY"


def test_validate_served_from_memory_shows_each_change_at_once(app, companies, http):
    """`/auth/validate` keeps its user, company and key rows in memory (infra/read_cache.py):
    a profile edit, a company edit and a key edit each show on the next call."""
    tenant = companies[0]
    key, secret = make_api_key(app, tenant, scopes=("read", "write"))
    headers = {"X-API-Key": key, "X-API-Secret": secret}
    first = http.get("/api/v1/auth/validate", headers=headers).json()
    second = http.get("/api/v1/auth/validate", headers=headers).json()
    assert second["user"] == first["user"] and second["api_key_info"]["name"] == first["api_key_info"]["name"]
    assert second["rate_limits"]["used_this_hour"] == first["rate_limits"]["used_this_hour"] + 1  # never cached
    assert http.put("/api/v1/user/profile", json={"first_name": "Renamed"}, headers=headers).status_code == 200
    assert http.get("/api/v1/auth/validate", headers=headers).json()["user"]["first_name"] == "Renamed"

    from sqlalchemy import update

    from knowrithm.domains.auth.models import ApiKey
    from knowrithm.domains.companies.models import Company
    from knowrithm.infra.db import db

    with app.app_context():  # straight to the tables, as a script or another service would
        db.session.execute(update(Company).where(Company.id == tenant.company_id).values(industry="Cached goods"))
        db.session.execute(update(ApiKey).values(name="renamed key"))
        db.session.commit()
        db.session.remove()
    body = http.get("/api/v1/auth/validate", headers=headers).json()
    assert body["company"]["industry"] == "Cached goods" and body["api_key_info"]["name"] == "renamed key"
