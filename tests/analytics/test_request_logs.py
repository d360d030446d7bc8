"""Request logs cover every authenticated caller (API key, user JWT, widget visitor) with the
client IP; the visitor's conversation rating is validated and tenant-scoped."""
import pytest

from tests.conftest import make_api_key
from tests.widget.helpers import make_agent


def _logged(app, company_id):
    from sqlalchemy import select

    from knowrithm.domains.analytics.models import ApiRequestLog
    from knowrithm.domains.auth.request_log import flush
    from knowrithm.infra.db import db

    with app.app_context():
        flush()
        rows = db.session.execute(select(ApiRequestLog.auth_type, ApiRequestLog.endpoint, ApiRequestLog.ip_address,
                                         ApiRequestLog.status_code, ApiRequestLog.lead_id, ApiRequestLog.user_id)
                                  .where(ApiRequestLog.company_id == company_id)).all()
        db.session.remove()
    return rows


def test_jwt_and_widget_requests_are_logged_with_the_client_ip(app, http, companies, sdk_factory):
    a, b = companies
    agent_id = make_agent(app, a)
    token = http.post("/api/v1/auth/login", json={"email": a.admin_email, "password": a.password}).json()
    assert http.get("/api/v1/conversation", headers={"Authorization": f"Bearer {token['access_token']}"}).ok
    lead = sdk_factory().leads.register_lead({"agent_id": str(agent_id), "first_name": "Vi", "last_name": "Sitor",
                                              "email": "vi@visitors.io"})
    lead_headers = {"Authorization": f"Bearer {lead['access_token']}"}
    conv = http.post("/api/v1/conversation", json={"agent_id": str(agent_id)}, headers=lead_headers)
    assert conv.status_code == 201
    rows = _logged(app, a.company_id)
    by_type = {}
    for auth_type, endpoint, ip, status, lead_id, user_id in rows:
        by_type.setdefault(auth_type, []).append((endpoint, ip, status, lead_id, user_id))
    assert ("/api/v1/conversation", "127.0.0.1", 200, None, a.admin_id) in by_type["user"]
    assert any(e == "/api/v1/conversation" and s == 201 and lid is not None for e, _ip, s, lid, _u in by_type["lead"])
    assert _logged(app, b.company_id) == []  # nothing of A's traffic is B's

    key, secret = make_api_key(app, a, scopes=("read", "admin"))
    overview = http.get("/api/v1/overview", headers={"X-API-Key": key, "X-API-Secret": secret}).json()["data"]
    assert overview["usage"]["total_requests"] == len(rows)


def test_conversation_rating_is_validated_and_scoped(app, http, companies):
    a, b = companies
    agent_id = make_agent(app, a)
    key_a, secret_a = make_api_key(app, a)
    key_b, secret_b = make_api_key(app, b)
    ha, hb = {"X-API-Key": key_a, "X-API-Secret": secret_a}, {"X-API-Key": key_b, "X-API-Secret": secret_b}
    conv_id = http.post("/api/v1/conversation", json={"agent_id": str(agent_id)}, headers=ha).json()["id"]
    for bad in (0, 6, "great", None):
        resp = http.post(f"/api/v1/conversation/{conv_id}/rating", json={"rating": bad}, headers=ha)
        assert resp.status_code == 400 and "rating" in resp.json()["details"]
    assert http.post(f"/api/v1/conversation/{conv_id}/rating", json={"rating": 4}, headers=hb).status_code == 404
    ok = http.post(f"/api/v1/conversation/{conv_id}/rating", json={"rating": 4, "comment": "quick"}, headers=ha)
    assert ok.status_code == 200
    body = ok.json()["conversation"]
    assert body["lead_satisfaction"] == 4.0 and body["ended_at"] is not None


@pytest.mark.parametrize("passages,cited,answered,expected", [
    ([(1, 0.8)], [1], True, 1.0),
    ([(1, 0.5), (2, 0.9)], [1], True, 0.5),  # the cited passage counts, not the best retrieved
    ([(1, 0.35), (2, 0.65)], [], True, 0.75),  # nothing cited: the best retrieved
    ([(1, None)], [1], True, 0.5),  # keyword-only hit
    ([(1, 0.1)], [1], True, 0.0),
    ([(1, 0.9)], [], False, 0.0),  # the model said it did not know
    ([], [], True, 0.0),
])
def test_confidence_formula(passages, cited, answered, expected):
    from knowrithm.domains.conversations.engine import confidence
    from knowrithm.integrations.llm.base import Passage

    built = [Passage(number=n, content="x", document_name="d", similarity=s) for n, s in passages]
    assert confidence(built, cited, answered) == pytest.approx(expected)


def test_rollups_are_idempotent_and_charts_read_the_same_numbers(app, http, companies):
    """Hour and day aggregates replace the raw rows under the charts without changing a figure."""
    from datetime import timedelta

    from sqlalchemy import func, select

    from knowrithm.domains.analytics.models import ApiRequestLog, ApiUsageRollup
    from knowrithm.domains.analytics.rollups import roll_up
    from knowrithm.infra.db import db, utcnow

    a, b = companies
    key, secret = make_api_key(app, a, scopes=("read", "admin"))
    headers = {"X-API-Key": key, "X-API-Secret": secret}
    now = utcnow()
    with app.app_context():
        for hours_ago, status, ms, company in [(50, 200, 10.0, a), (50, 500, 30.0, a), (26, 200, 20.0, a),
                                               (3, 404, 40.0, a), (3, 200, 5.0, b)]:
            db.session.add(ApiRequestLog(company_id=company.company_id, method="GET", endpoint="/api/v1/agent",
                                         status_code=status, response_time_ms=ms, auth_type="user",
                                         created_at=now - timedelta(hours=hours_ago)))
        db.session.commit()
        db.session.remove()

    def charts():
        out = {}
        for path in ("/api/v1/overview", "/api/v1/usage-trends?granularity=hourly", "/api/v1/top-endpoints",
                     "/api/v1/usage-trends?granularity=daily"):
            body = http.get(path, headers=headers).json()["data"]
            out[path] = body
        return out

    before = charts()
    with app.app_context():
        def hour_rows():
            return tuple(db.session.execute(select(func.count(), func.sum(ApiUsageRollup.requests))
                                            .where(ApiUsageRollup.granularity == "hour")).one())

        first = roll_up()
        once = hour_rows()
        roll_up(now=now)  # the same window again: the same rows
        hours = hour_rows()
        days = db.session.execute(select(func.sum(ApiUsageRollup.requests), func.sum(ApiUsageRollup.errors))
                                  .where(ApiUsageRollup.granularity == "day")).one()
        raw_before_today = db.session.execute(select(func.count()).select_from(ApiRequestLog).where(
            ApiRequestLog.created_at < now.replace(hour=0, minute=0, second=0, microsecond=0))).scalar()
        db.session.remove()
    assert first["hours"] >= 48 and hours == once
    assert hours[1] >= 5  # every logged request of both companies, in hour rows
    assert days[0] == raw_before_today  # days hold exactly the complete days' requests
    after = charts()
    # The charts' own requests are logged too: compare everything the script controls.
    overview_before, overview_after = before["/api/v1/overview"]["usage"], after["/api/v1/overview"]["usage"]
    assert overview_after["total_requests"] == overview_before["total_requests"] + len(before)
    old_periods = [t for t in before["/api/v1/usage-trends?granularity=hourly"]["trends"]
                   if t["period"] < (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H")]
    new_periods = after["/api/v1/usage-trends?granularity=hourly"]["trends"][:len(old_periods)]
    assert old_periods and old_periods == new_periods
    assert {t["period"][:13]: t["total_requests"] for t in old_periods} == {
        (now - timedelta(hours=50)).strftime("%Y-%m-%dT%H"): 2, (now - timedelta(hours=26)).strftime("%Y-%m-%dT%H"): 1,
        (now - timedelta(hours=3)).strftime("%Y-%m-%dT%H"): 1}
    assert old_periods[0]["success_rate"] == 50.0 and old_periods[0]["avg_response_time"] == 20.0
    today = now.strftime("%Y-%m-%d")
    old_days = [t for t in before["/api/v1/usage-trends?granularity=daily"]["trends"] if t["period"] < today]
    assert old_days and old_days == [t for t in after["/api/v1/usage-trends?granularity=daily"]["trends"]
                                     if t["period"] < today]  # day rows now, the same figures


def test_anonymous_widget_requests_are_logged_for_the_agents_company_only(app, http, companies):
    import uuid

    from sqlalchemy import select

    from knowrithm.domains.analytics.models import ApiRequestLog
    from knowrithm.infra.db import db

    a, b = companies
    agent_a, agent_b = make_agent(app, a), make_agent(app, b)
    assert http.get(f"/api/v1/agent/{agent_a}").status_code == 200  # the widget loads the agent, no credentials
    registered = http.post("/api/v1/lead/register", json={"agent_id": str(agent_a), "first_name": "An", "last_name": "On",
                                                          "email": "anon@visitors.io"})
    assert registered.status_code in (200, 201)
    refreshed = http.post("/api/v1/lead/refresh", json={"refresh_token": registered.json()["refresh_token"]})
    assert refreshed.status_code == 200
    assert http.get(f"/api/v1/agent/{uuid.uuid4()}").status_code == 404  # no agent: no company to count it for
    assert http.get("/api/v1/country").status_code == 200  # public, not the widget's, no company: not logged
    assert http.get(f"/api/v1/agent/{agent_b}").status_code == 200

    anonymous = [r for r in _logged(app, a.company_id) if r[0] == "anonymous"]
    assert sorted((endpoint, ip, status, lead, user) for _t, endpoint, ip, status, lead, user in anonymous) == [
        ("/api/v1/agent/<agent_id>", "127.0.0.1", 200, None, None),
        ("/api/v1/lead/refresh", "127.0.0.1", 200, None, None),
        ("/api/v1/lead/register", "127.0.0.1", registered.status_code, None, None)]
    assert [r[1] for r in _logged(app, b.company_id)] == ["/api/v1/agent/<agent_id>"]  # B's own agent only
    with app.app_context():
        unattributed = db.session.execute(select(ApiRequestLog.endpoint, ApiRequestLog.status_code, ApiRequestLog.auth_type)
                                          .where(ApiRequestLog.company_id.is_(None))).all()
        db.session.remove()
    assert unattributed == [("/api/v1/agent/<agent_id>", 404, "anonymous")]

    key, secret = make_api_key(app, a, scopes=("read", "admin"))
    overview = http.get("/api/v1/overview", headers={"X-API-Key": key, "X-API-Secret": secret}).json()["data"]
    assert overview["usage"]["total_requests"] == len(_logged(app, a.company_id)) - 1  # all but this call itself
