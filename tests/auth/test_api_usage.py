"""API-usage analytics computed from the per-request log rows."""
from __future__ import annotations

import uuid

import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError

from tests.conftest import make_api_key


def api_error(call) -> KnowrithmAPIError:
    with pytest.raises(KnowrithmAPIError) as info:
        call()
    return info.value


@pytest.fixture
def traffic(app, companies, sdk_factory):
    """Company A: key 1 makes 3 good GETs and 1 forbidden POST; key 2 makes 1 GET. Company B: 2 GETs."""
    k1 = sdk_factory(*make_api_key(app, companies[0], ("read",), name="reader"))
    k2 = sdk_factory(*make_api_key(app, companies[0], ("read",), name="second"))
    kb = sdk_factory(*make_api_key(app, companies[1], ("read",), name="globex"))
    for _ in range(3):
        k1.users.get_profile({})
    with pytest.raises(KnowrithmAPIError):
        k1.auth.create_user({"email": "x@acme.test", "password": "Forbidden-pass-1"})
    k2.auth.get_current_user(headers={})
    kb.users.get_profile({})
    kb.users.get_profile({})
    analyst = sdk_factory(*make_api_key(app, companies[0], ("read", "admin"), name="analyst"))
    return analyst


def test_overview(traffic):
    data = traffic.api_keys.get_api_key_overview(days=7)["data"]
    assert data["period_days"] == 7
    assert data["api_keys"] == {"total": 3, "active": 3, "expired": 0, "revoked": 0}
    usage = data["usage"]
    assert usage["total_requests"] == 5  # company B's traffic is not counted
    assert usage["success_rate"] == 80.0 and usage["avg_response_time_ms"] > 0


def test_usage_trends(traffic):
    daily = traffic.api_keys.get_usage_trends()["data"]
    assert daily["granularity"] == "daily" and sum(t["total_requests"] for t in daily["trends"]) >= 5
    hourly = traffic.api_keys.get_usage_trends(days=1, granularity="hourly")["data"]
    assert hourly["granularity"] == "hourly" and hourly["trends"][-1]["total_requests"] >= 5
    assert {"period", "total_requests", "success_rate", "avg_response_time"} <= set(hourly["trends"][0])
    assert api_error(lambda: traffic.api_keys.get_usage_trends(granularity="weekly")).status_code == 400


def test_top_endpoints(traffic):
    endpoints = traffic.api_keys.get_top_endpoints()["data"]["endpoints"]
    top = endpoints[0]
    assert (top["endpoint"], top["method"], top["total_requests"]) == ("/api/v1/user/profile", "GET", 3)
    assert top["success_rate"] == 100.0
    assert {"/api/v1/auth/user", "/api/v1/auth/user/me"} <= {e["endpoint"] for e in endpoints}


def test_api_key_performance(traffic):
    keys = {k["name"]: k for k in traffic.api_keys.get_api_key_performance()["data"]["api_keys"]}
    assert keys["reader"]["total_requests"] == 4 and keys["reader"]["success_rate"] == 75.0
    assert keys["second"]["total_requests"] == 1 and "globex" not in keys
    assert {"api_key_id", "key_prefix", "status", "avg_response_time", "last_used_at", "created_at"} <= \
        set(keys["reader"])


def test_error_analysis(traffic):
    data = traffic.api_keys.get_error_analysis()["data"]
    assert data["status_code_breakdown"] == [{"status_code": 403, "count": 1}]
    assert data["top_error_endpoints"] == [{"endpoint": "/api/v1/auth/user", "method": "POST", "error_count": 1}]


def test_rate_limit_analysis(traffic):
    data = traffic.api_keys.get_rate_limit_analysis()["data"]
    assert data["period_days"] == 7
    rows = {r["name"]: r for r in data["high_usage_api_keys"]}
    assert rows["reader"]["hourly_requests"] == 4 and rows["reader"]["daily_requests"] == 4
    assert rows["reader"]["hourly_usage_pct"] == round(400 / rows["reader"]["hourly_limit"], 2)
    assert "globex" not in rows


def test_detailed_usage_and_cross_company(traffic, app, companies, sdk_for):
    perf = traffic.api_keys.get_api_key_performance()["data"]["api_keys"]
    reader_id = next(k["api_key_id"] for k in perf if k["name"] == "reader")
    data = traffic.api_keys.get_detailed_usage(reader_id)["data"]
    assert data["api_key"]["id"] == reader_id and data["api_key"]["scopes"] == ["read"]
    assert data["total_logs"] == 4 and data["daily_breakdown"][0]["total_requests"] == 4
    assert {e["endpoint"] for e in data["endpoint_breakdown"]} == {"/api/v1/user/profile", "/api/v1/auth/user"}
    other = sdk_for(companies[1], scopes=("read", "admin"))
    assert api_error(lambda: other.api_keys.get_detailed_usage(reader_id)).status_code == 404
    assert api_error(lambda: traffic.api_keys.get_detailed_usage(str(uuid.uuid4()))).status_code == 404


def test_admin_jwt_and_bad_input(traffic, sdk_factory, companies):
    login = sdk_factory().auth.login(companies[0].admin_email, companies[0].password)
    headers = {"Authorization": f"Bearer {login['access_token']}"}
    assert traffic.api_keys.get_api_key_overview(headers=headers)["data"]["usage"]["total_requests"] >= 5
    assert api_error(lambda: traffic.api_keys.get_api_key_overview(days=0)).status_code == 400
    assert api_error(lambda: traffic.api_keys.get_top_endpoints(days=1000)).status_code == 400


def test_super_admin_sees_platform_or_one_company(traffic, http, super_admin_token, companies):
    auth = {"Authorization": f"Bearer {super_admin_token}"}
    everything = http.get("/api/v1/overview", headers=auth).json()["data"]
    assert everything["usage"]["total_requests"] >= 7
    one = http.get("/api/v1/overview", headers=auth, params={"company_id": str(companies[1].company_id)}).json()
    assert one["data"]["usage"]["total_requests"] == 2


def test_buffered_rows_reach_the_database_through_the_maintenance_task(app, companies, sdk_factory):
    """Quiet servers: the beat task drains whatever the request hook left in Redis."""
    from sqlalchemy import func, select

    from knowrithm.domains.analytics.models import ApiRequestLog
    from knowrithm.domains.auth.request_log import BUFFER_KEY
    from knowrithm.domains.analytics.tasks import flush_api_request_logs
    from knowrithm.infra.db import db

    client = sdk_factory(*make_api_key(app, companies[0], ("read",)))
    for _ in range(3):
        client.users.get_profile({})
    # The request hook keeps records in the process; a background thread pushes them to Redis.
    import time

    deadline = time.time() + 30
    while app.extensions["redis"].llen(BUFFER_KEY) < 3 and time.time() < deadline:
        time.sleep(0.1)
    with app.app_context():
        assert app.extensions["redis"].llen(BUFFER_KEY) == 3
        assert flush_api_request_logs.run() == {"flushed": 3}
        assert db.session.execute(select(func.count(ApiRequestLog.id))).scalar() == 3
        assert flush_api_request_logs.run() == {"flushed": 0}  # idempotent
        db.session.remove()


def test_a_full_buffer_is_flushed_by_a_worker_not_by_the_api(app, companies, sdk_factory, celery_worker, monkeypatch):
    """Past FLUSH_AT buffered rows the API's pushing thread asks a worker to write them (one
    request in flight at a time); it writes them itself only when nobody drained a much larger
    buffer. Either way every row arrives once."""
    import json
    import time

    from sqlalchemy import func, select

    from knowrithm.domains.analytics.models import ApiRequestLog
    from knowrithm.domains.auth import request_log
    from knowrithm.infra.db import db

    r = app.extensions["redis"]
    asked = []
    real_request = request_log._request_flush
    monkeypatch.setattr(request_log, "_request_flush", lambda a: asked.append(1) or real_request(a))
    row = [None, str(companies[0].company_id), None, "GET", "/api/v1/agent", 200, 1.0, time.time(), "anonymous",
           None, "127.0.0.1"]
    r.rpush(request_log.BUFFER_KEY, *[json.dumps(row)] * request_log.FLUSH_AT)
    client = sdk_factory(*make_api_key(app, companies[0], ("read",)))
    client.users.get_profile({})  # starts this process's pushing thread, which finds the buffer full

    def stored() -> int:
        with app.app_context():
            try:
                return db.session.execute(select(func.count(ApiRequestLog.id))).scalar()
            finally:
                db.session.remove()

    deadline = time.time() + 30
    while stored() < request_log.FLUSH_AT + 1 and time.time() < deadline:
        time.sleep(0.2)
    assert stored() == request_log.FLUSH_AT + 1 and r.llen(request_log.BUFFER_KEY) == 0
    assert asked and request_log.FLUSH_AT + 1 < request_log.FLUSH_INLINE_AT  # so the worker wrote them
    assert not r.exists(request_log.FLUSH_REQUESTED_KEY)  # the next full buffer can ask again
