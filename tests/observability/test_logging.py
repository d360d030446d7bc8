"""Failures reach the log: JSON lines with traceback, request id, company, route and latency."""
import io
import json
import logging

import pytest

from tests.conftest import make_api_key, poll_task


@pytest.fixture
def captured(app):
    """The platform's own root handler (the one `configure_logging` installed, with its context
    filter), writing JSON into a buffer for the test. If migrations had replaced the logging
    set-up (alembic's fileConfig), the handler would be gone and this fixture would fail."""
    from knowrithm.infra.logs import ContextFilter, json_formatter

    handlers = [h for h in logging.getLogger().handlers
                if any(isinstance(f, ContextFilter) for f in h.filters)]
    assert handlers, "the platform's log handler was removed"
    assert not logging.getLogger("knowrithm.infra.errors").disabled
    handler = handlers[0]
    buffer = io.StringIO()
    old_stream, old_formatter = handler.setStream(buffer), handler.formatter
    handler.setFormatter(json_formatter())
    levels = {name: logging.getLogger(name).level for name in ("knowrithm.access", "knowrithm.infra.tasks")}
    for name in levels:
        logging.getLogger(name).setLevel(logging.INFO)

    def lines() -> list[dict]:
        return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]

    yield lines
    handler.setStream(old_stream)
    handler.setFormatter(old_formatter)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _headers(app, tenant, request_id):
    key, secret = make_api_key(app, tenant)
    return {"X-API-Key": key, "X-API-Secret": secret, "X-Request-ID": request_id}


def test_route_error_is_logged_with_traceback_and_request_id(app, http, companies, captured, monkeypatch):
    from knowrithm.domains.analytics import reports

    def explode(*_a, **_k):
        raise RuntimeError("boom-in-route")

    monkeypatch.setattr(reports, "dashboard", explode)
    resp = http.get("/api/v1/analytic/dashboard", headers=_headers(app, companies[0], "req-route-err"))
    assert resp.status_code == 500 and resp.json()["code"] == "INTERNAL_ERROR"
    errors = [line for line in captured() if line["level"] == "ERROR"]
    assert len(errors) == 1, captured()
    error = errors[0]
    assert error["request_id"] == "req-route-err" and error["route"] == "/api/v1/analytic/dashboard"
    assert error["company_id"] == str(companies[0].company_id)
    assert "Traceback" in error["exc_info"] and "boom-in-route" in error["exc_info"]
    access = [line for line in captured() if line["name"] == "knowrithm.access"]
    assert access[-1]["status"] == 500 and access[-1]["request_id"] == "req-route-err"
    assert access[-1]["latency_ms"] > 0 and access[-1]["level"] == "INFO"


def test_task_error_carries_the_request_id_that_queued_it(app, http, companies, captured, monkeypatch,
                                                         celery_worker):
    from knowrithm.domains.analytics import reports

    def explode(*_a, **_k):
        raise RuntimeError("boom-in-task")

    monkeypatch.setattr(reports, "collect_metrics", explode)
    headers = _headers(app, companies[0], "req-queued-task")
    resp = http.post("/api/v1/system-metric", headers=headers)
    assert resp.status_code == 202
    assert poll_task(http, resp.json()["status_url"], headers=headers)["status"] == "failed"
    task_lines = [line for line in captured() if line["route"] == "task:knowrithm.analytics.collect_metrics"]
    assert [line["message"] for line in task_lines][:1] == ["task started"]
    assert all(line["request_id"] == "req-queued-task" for line in task_lines)
    failed = [line for line in task_lines if line["level"] == "ERROR"]
    assert len(failed) == 1 and "boom-in-task" in failed[0]["exc_info"]
    assert failed[0]["company_id"] == str(companies[0].company_id)


def test_slow_responses_are_warnings(app, http, companies, captured, monkeypatch):
    monkeypatch.setitem(app.config, "SLOW_REQUEST_MS", 0.0)
    http.get("/api/v1/analytic/dashboard", headers=_headers(app, companies[0], "req-slow"))
    monkeypatch.setitem(app.config, "SLOW_REQUEST_MS", 60_000.0)
    http.get("/api/v1/analytic/dashboard", headers=_headers(app, companies[0], "req-fast"))
    by_id = {line["request_id"]: line for line in captured() if line["name"] == "knowrithm.access"}
    assert by_id["req-slow"]["level"] == "WARNING" and by_id["req-slow"]["message"] == "slow request"
    assert by_id["req-fast"]["level"] == "INFO" and by_id["req-fast"]["status"] == 200
    assert by_id["req-fast"]["company_id"] == str(companies[0].company_id)


def test_queue_backlog_is_a_warning_at_scrape_time(http, settings, captured, monkeypatch):
    token = "metrics-token-for-the-log-test-01"
    monkeypatch.setattr(settings, "METRICS_TOKEN", token)
    monkeypatch.setattr(settings, "QUEUE_DEPTH_WARN", 0)  # every queue is at the threshold now
    assert http.get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    backlog = [line for line in captured() if line["message"] == "queue backlog"]
    assert {line["queue"] for line in backlog} == {"critical", "default", "low", "slow", "dead_letter"}
    assert {line["level"] for line in backlog} == {"WARNING"}
    monkeypatch.setattr(settings, "QUEUE_DEPTH_WARN", 1_000_000)
    before = len(backlog)
    assert http.get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert len([line for line in captured() if line["message"] == "queue backlog"]) == before  # under it: quiet


def test_pool_near_exhaustion_and_slow_queries_are_warnings(settings, captured):
    """A pool of two: the second checkout reaches 90 % of it; with a 0 ms threshold every
    statement is slow (counted, and logged with its latency)."""
    from sqlalchemy import create_engine, text

    from knowrithm.infra.metrics import process_registry, watch_engine

    def slow_count() -> float:
        return process_registry().get_sample_value("knowrithm_db_slow_queries_total") or 0.0

    engine = create_engine(settings.SQLALCHEMY_DATABASE_URI, pool_size=2, max_overflow=0)
    watch_engine(engine, slow_query_ms=0.0)
    slow_before = slow_count()
    try:
        with engine.connect() as first:
            first.execute(text("SELECT 1"))
            assert not [line for line in captured() if line["message"] == "database pool nearly exhausted"]
            with engine.connect() as second:
                second.execute(text("SELECT 2"))
    finally:
        engine.dispose()
    pool = [line for line in captured() if line["message"] == "database pool nearly exhausted"]
    assert [(line["level"], line["in_use"], line["capacity"]) for line in pool] == [("WARNING", 2, 2)]
    slow = [line for line in captured() if line["message"] == "slow query"]
    assert {"SELECT 1", "SELECT 2"} <= {line["statement"] for line in slow}
    assert all(line["level"] == "WARNING" and line["latency_ms"] >= 0 for line in slow)
    assert slow_count() >= slow_before + 2


def test_beat_checks_capacity_every_minute_without_a_scrape(app, settings, captured, monkeypatch):
    """With metrics off (no METRICS_TOKEN, the default) the backlog and low-disk warnings still
    reach the logs: beat runs the check every minute on the `low` queue."""
    from knowrithm.domains.system.tasks import check_capacity
    from knowrithm.worker import BEAT_SCHEDULE, TASK_ROUTES

    entry = next(e for e in BEAT_SCHEDULE.values() if e["task"] == check_capacity.name)
    assert entry["schedule"] == 60.0 and TASK_ROUTES["knowrithm.maintenance.*"]["queue"] == "low"
    assert not settings.METRICS_TOKEN
    monkeypatch.setattr(settings, "QUEUE_DEPTH_WARN", 0)
    monkeypatch.setattr(settings, "UPLOAD_DISK_FREE_WARN", 1.0)  # any disk is "nearly full" now
    with app.app_context():
        figures = check_capacity.apply().get()
    assert set(figures["queues"]) == {"critical", "default", "low", "slow", "dead_letter"}
    assert 0 <= figures["upload_disk_free_ratio"] < 1
    lines = captured()
    assert {line["queue"] for line in lines if line["message"] == "queue backlog"} == set(figures["queues"])
    [disk] = [line for line in lines if line["message"] == "upload disk nearly full"]
    assert disk["level"] == "WARNING" and disk["free_ratio"] == round(figures["upload_disk_free_ratio"], 4)

    monkeypatch.setattr(settings, "QUEUE_DEPTH_WARN", 1_000_000)
    monkeypatch.setattr(settings, "UPLOAD_DISK_FREE_WARN", 0.0)  # under both thresholds: quiet
    before = len(captured())
    with app.app_context():
        check_capacity.apply().get()
    assert [line["message"] for line in captured()[before:]
            if line["message"] in ("queue backlog", "upload disk nearly full")] == []
