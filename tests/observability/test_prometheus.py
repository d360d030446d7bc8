"""A real Prometheus (Debian's `prometheus`) scrapes a running platform: gunicorn in
multiprocess mode and a prefork Celery worker with its exporter port. After a scripted
workload, PromQL for request rate, queue depth and chat latency returns data."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from knowrithm.infra.embedded import free_port as _port
from tests.conftest import _claim_redis_db, make_api_key, poll_task
from tests.processes import stop_groups
from tests.widget.helpers import make_agent

TOKEN = "metrics-token-for-tests-0123456789"
PROMETHEUS = shutil.which("prometheus")


def _wait(check, what: str, timeout: float = 120.0):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = check()
            if last:
                return last
        except requests.RequestException as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


def test_metrics_need_the_token(http, settings, monkeypatch):
    assert http.get("/metrics").status_code == 404  # no METRICS_TOKEN: off, never public
    monkeypatch.setattr(settings, "METRICS_TOKEN", TOKEN)
    assert http.get("/metrics").status_code == 401
    assert http.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    resp = http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/plain")
    assert "knowrithm_http_requests_total" in resp.text and "knowrithm_celery_queue_depth" in resp.text


@pytest.fixture
def platform(settings, tmp_path, app):
    """gunicorn (2 gevent workers) and a prefork Celery worker as real processes, on the test
    database and their own Redis database (the in-process test worker must not take their tasks)."""
    base = settings.redis_url.rsplit("/", 1)[0]
    n, lock = _claim_redis_db(base)
    api_port, worker_port = _port(), _port()
    env = {**os.environ, "SQLALCHEMY_DATABASE_URI": settings.SQLALCHEMY_DATABASE_URI, "REDIS_URL": f"{base}/{n}",
           "SECRET_KEY": settings.SECRET_KEY, "JWT_SECRET_KEY": settings.JWT_SECRET_KEY,
           "UPLOAD_FOLDER": str(tmp_path / "uploads"), "METRICS_TOKEN": TOKEN, "LOG_LEVEL": "WARNING",
           "SUPER_ADMIN_EMAIL": settings.SUPER_ADMIN_EMAIL, "SUPER_ADMIN_PASSWORD": settings.SUPER_ADMIN_PASSWORD}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    bin_dir = Path(sys.executable).parent
    logs = {name: open(tmp_path / f"{name}.log", "wb") for name in ("api", "worker")}
    procs = [
        subprocess.Popen([str(bin_dir / "gunicorn"), "-c", "python:knowrithm.gunicorn_conf", "knowrithm.wsgi:app",
                          "--bind", f"127.0.0.1:{api_port}", "--workers", "2", "--preload"],
                         cwd=tmp_path, env=env, stdout=logs["api"], stderr=subprocess.STDOUT, start_new_session=True),
        subprocess.Popen([str(bin_dir / "celery"), "-A", "knowrithm.worker", "worker", "-Q", "critical,default,low,slow",
                          "--pool", "prefork", "--concurrency", "2", "--without-mingle", "--without-gossip",
                          "--loglevel", "WARNING", "-n", f"metrics-test-{worker_port}@localhost"],
                         cwd=tmp_path, env={**env, "METRICS_WORKER_PORT": str(worker_port)},
                         stdout=logs["worker"], stderr=subprocess.STDOUT, start_new_session=True),
    ]
    try:
        api = f"http://127.0.0.1:{api_port}"
        _wait(lambda: requests.get(f"{api}/api/health", timeout=5).status_code == 200, "the API and the worker")
        yield {"api": api, "api_port": api_port, "worker_port": worker_port, "logs": tmp_path}
    finally:
        stop_groups(procs)
        for f in logs.values():
            f.close()
        import redis

        redis.Redis.from_url(f"{base}/{n}").flushdb()
        lock.delete(f"knowrithm-test-db-lock:{n}")


@pytest.fixture
def prometheus(platform, tmp_path):
    if PROMETHEUS is None:
        pytest.skip("Debian's prometheus is not installed (scripts/test.sh installs it as root)")
    port = _port()
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: knowrithm-api
    authorization: {{credentials: {TOKEN}}}
    static_configs: [{{targets: ["127.0.0.1:{platform['api_port']}"]}}]
  - job_name: knowrithm-worker
    authorization: {{credentials: {TOKEN}}}
    static_configs: [{{targets: ["127.0.0.1:{platform['worker_port']}"]}}]
""")
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "wb"))
    url = f"http://127.0.0.1:{port}"

    def query(promql: str) -> list:
        body = requests.get(f"{url}/api/v1/query", params={"query": promql}, timeout=10).json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    try:
        _wait(lambda: len(query("up == 1")) == 2, "both targets up")
        yield query
    finally:
        proc.terminate()
        proc.wait(30)


def test_prometheus_scrapes_api_and_worker(app, companies, prometheus, platform):
    api = platform["api"]
    key, secret = make_api_key(app, companies[0])
    headers = {"X-API-Key": key, "X-API-Secret": secret}
    agent_id = make_agent(app, companies[0])
    # The scripted workload: a few conversations with a question each, some failing requests.
    for i in range(3):
        conv = requests.post(f"{api}/api/v1/conversation", json={"agent_id": str(agent_id)}, headers=headers,
                             timeout=30)
        assert conv.status_code == 201, conv.text
        ack = requests.post(f"{api}/api/v1/conversation/{conv.json()['id']}/chat",
                            json={"message": f"What is the refund policy, take {i}?"}, headers=headers, timeout=30)
        assert ack.status_code == 202, ack.text
        result = poll_task(requests.Session(), f"{api}{ack.json()['status_url']}", headers=headers, timeout=120)
        assert result["status"] == "completed", result
    for _ in range(4):
        assert requests.get(f"{api}/api/v1/agent/not-a-uuid", headers=headers, timeout=30).status_code in (400, 404)

    chat_route = 'route="/api/v1/conversation/<conversation_id>/chat"'
    # rate() needs an increase of one series between two scraped samples. On a loaded machine
    # the first sample Prometheus keeps may already hold every chat, so two refused chat
    # requests follow, the second only once the first is stored: the refused series (its own
    # `status` label) then goes from 1 to 2 between two samples.
    _wait(lambda: prometheus(f"knowrithm_http_requests_total{{{chat_route}}}"), "the chat route's counter")
    refused_series = f'knowrithm_http_requests_total{{{chat_route},status=~"4.."}}'

    def refuse():
        refused = requests.post(f"{api}/api/v1/conversation/{conv.json()['id']}/chat", json={}, headers=headers,
                                timeout=30)
        assert refused.status_code in (400, 422), refused.text

    refuse()
    _wait(lambda: prometheus(f"{refused_series} >= 1"), "the refused chat request's counter")
    refuse()
    rate = _wait(lambda: prometheus(f"sum by (route) (rate(knowrithm_http_requests_total{{{chat_route}}}[5m])) > 0"),
                 "a request rate for the chat route")
    assert float(rate[0]["value"][1]) > 0
    errors = _wait(lambda: prometheus('sum(knowrithm_http_requests_total{status=~"4.."}) >= 4'), "4xx counts")
    assert float(errors[0]["value"][1]) >= 4
    depth = _wait(lambda: prometheus("knowrithm_celery_queue_depth"), "queue depth")
    assert {r["metric"]["queue"] for r in depth} == {"critical", "default", "low", "slow", "dead_letter"}
    chats = _wait(lambda: prometheus('sum(knowrithm_chat_latency_seconds_count{phase="total"}) >= 3'),
                  "chat latency samples from the worker")
    assert float(chats[0]["value"][1]) == 3
    # The quantile of the stored histogram (all chats so far): a rate() over it would need the
    # worker's series scraped between two chats, which a loaded machine does not guarantee.
    p50 = _wait(lambda: prometheus('histogram_quantile(0.5, sum by (le) '
                                   '(knowrithm_chat_latency_seconds_bucket{phase="total"})) > 0'),
                "a chat latency quantile")
    assert float(p50[0]["value"][1]) > 0
    workers = _wait(lambda: prometheus("knowrithm_celery_workers_alive >= 1"), "live workers")
    assert float(workers[0]["value"][1]) >= 1
    tasks = _wait(lambda: prometheus('sum(knowrithm_tasks_total{job="knowrithm-worker",outcome="success"}) >= 3'),
                  "task outcomes from the worker")
    assert float(tasks[0]["value"][1]) >= 3
    business = _wait(lambda: prometheus('sum(knowrithm_conversations_created_total) >= 3'), "business counters")
    assert float(business[0]["value"][1]) == 3
    assert _wait(lambda: prometheus('sum(knowrithm_messages_total{role="assistant"}) >= 3'), "assistant messages")
    assert _wait(lambda: prometheus("knowrithm_db_pool_capacity > 0"), "database pool capacity")


def test_worker_exporter_on_a_taken_port_says_so_and_the_worker_goes_on(app, settings, monkeypatch, caplog):
    import socket

    from knowrithm.infra.metrics import start_worker_exporter

    monkeypatch.setattr(settings, "METRICS_TOKEN", TOKEN)
    monkeypatch.setattr(settings, "METRICS_BIND", "127.0.0.1")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setattr(settings, "METRICS_WORKER_PORT", taken.getsockname()[1])
        assert start_worker_exporter(app) is None
    assert "cannot listen on 127.0.0.1" in caplog.text and "METRICS_WORKER_PORT" in caplog.text
    port = _port()
    monkeypatch.setattr(settings, "METRICS_WORKER_PORT", port)
    assert start_worker_exporter(app) is not None
    assert requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).status_code == 401
    resp = requests.get(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert resp.status_code == 200 and "knowrithm_" in resp.text
