"""Prometheus metrics: the API's `/metrics`, the worker's exporter port, and the plumbing
families (HTTP, tasks, database pool, SSE, queues, workers).

Multiprocess mode is on when `PROMETHEUS_MULTIPROC_DIR` is set (prometheus-client's own
switch, read when the library is imported): gunicorn's config and the Celery entry point set
it to a fresh directory before the app is imported, so every gunicorn worker and every prefork
child writes its samples there and one scrape sums them. Without it (tests, `flask run`) the
process's own registry is served.

Access is never public: both endpoints answer only `Authorization: Bearer <METRICS_TOKEN>`;
without a token `/metrics` is a 404 and the worker exporter does not start. Queue depth and
worker availability are read at scrape time by the API (one broker round trip per queue),
so they cost nothing per request. Domain families live with their domain
(conversations.engine, documents.pipeline.ingest, analytics.business_metrics).
"""
from __future__ import annotations

import hmac
import logging
import os
import shutil
import threading
import time
from pathlib import Path

from flask import Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from .db import db
from .redis import WORKER_STALE_SECONDS, WORKERS_KEY

log = logging.getLogger(__name__)

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

HTTP_REQUESTS = Counter("knowrithm_http_requests_total", "HTTP requests by route template and status",
                        ["method", "route", "status"])
HTTP_LATENCY = Histogram("knowrithm_http_request_duration_seconds", "HTTP request latency by route template",
                         ["method", "route"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
TASKS = Counter("knowrithm_tasks_total", "Celery tasks run, by task and outcome", ["task", "outcome"])
TASK_LATENCY = Histogram("knowrithm_task_duration_seconds", "Celery task run time by task", ["task"],
                         buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900))
DB_POOL_IN_USE = Gauge("knowrithm_db_pool_connections_in_use", "Database connections checked out",
                       multiprocess_mode="livesum")
DB_POOL_CAPACITY = Gauge("knowrithm_db_pool_capacity", "Database connections the pools may open",
                         multiprocess_mode="livesum")
DB_SLOW_QUERIES = Counter("knowrithm_db_slow_queries_total", "Statements slower than SLOW_QUERY_MS")
SSE_OPEN = Gauge("knowrithm_sse_streams_open", "Server-Sent-Event streams open", multiprocess_mode="livesum")


# --- per-request and per-task observations ---------------------------------------------------

def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_LATENCY.labels(method, route).observe(seconds)


def observe_task(task: str, outcome: str, seconds: float) -> None:
    TASKS.labels(task, outcome).inc()
    TASK_LATENCY.labels(task).observe(seconds)


def install(app: Flask) -> None:
    """Request metrics, the database hooks and the `/metrics` route."""

    @app.after_request
    def _count(resp: Response) -> Response:
        started = g.get("started")
        if started is not None:
            rule = request.url_rule
            observe_request(request.method, rule.rule if rule is not None else "unmatched", resp.status_code,
                            time.perf_counter() - started)
        return resp

    app.add_url_rule("/metrics", "metrics", _metrics_view, methods=["GET"])
    with app.app_context():
        watch_engine(db.engine, app.config["SETTINGS"].SLOW_QUERY_MS)


def authorised(header: str | None, token: str | None) -> bool:
    if not token or not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[7:].encode(), token.encode())


def _metrics_view():
    settings = current_app.config["SETTINGS"]
    if not settings.METRICS_TOKEN:
        return _plain(404, "metrics are disabled (set METRICS_TOKEN)\n")
    if not authorised(request.headers.get("Authorization"), settings.METRICS_TOKEN):
        return _plain(401, "unauthorised\n")
    platform = CollectorRegistry()
    platform.register(PlatformCollector(current_app._get_current_object()))
    body = generate_latest(process_registry()) + generate_latest(platform)
    return Response(body, mimetype=CONTENT_TYPE_LATEST.split(";")[0], headers={"Content-Type": CONTENT_TYPE_LATEST})


def _plain(status: int, text: str) -> Response:
    return Response(text, status=status, mimetype="text/plain")


def process_registry():
    """Every process's samples (multiprocess mode) or this process's."""
    if not MULTIPROCESS:
        from prometheus_client import REGISTRY

        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


# --- scrape-time figures -----------------------------------------------------------------------

class PlatformCollector:
    """Queue depth per queue, live workers and free upload disk, read when Prometheus scrapes."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        figures = capacity(self.app)
        depth = GaugeMetricFamily("knowrithm_celery_queue_depth", "Messages waiting per Celery queue",
                                  labels=["queue"])
        for name, count in figures["queues"].items():
            depth.add_metric([name], count)
        yield depth
        yield GaugeMetricFamily("knowrithm_celery_workers_alive", "Workers with a fresh heartbeat",
                                value=live_workers(self.app))
        if figures["upload_disk_free_ratio"] is not None:
            yield GaugeMetricFamily("knowrithm_upload_disk_free_ratio", "Free share of the upload disk",
                                    value=figures["upload_disk_free_ratio"])


def capacity(app: Flask) -> dict:
    """Queue depths and the free share of the upload disk, each logged at WARNING past its
    threshold (QUEUE_DEPTH_WARN, UPLOAD_DISK_FREE_WARN). Read at every scrape, and every minute
    by beat (`knowrithm.maintenance.check_capacity`), so the warnings reach the logs with
    metrics off too."""
    from .tasks import QUEUES

    settings = app.config["SETTINGS"]
    depths = queue_depths(app.extensions["celery"], QUEUES)
    for name, count in depths.items():
        if count >= settings.QUEUE_DEPTH_WARN:
            log.warning("queue backlog", extra={"queue": name, "depth": count})
    free = upload_disk_free(settings.UPLOAD_FOLDER)
    if free is not None and free < settings.UPLOAD_DISK_FREE_WARN:
        log.warning("upload disk nearly full", extra={"free_ratio": round(free, 4),
                                                       "threshold": settings.UPLOAD_DISK_FREE_WARN})
    return {"queues": depths, "upload_disk_free_ratio": free}


def upload_disk_free(upload_folder: str) -> float | None:
    folder = Path(upload_folder).resolve()
    while not folder.exists() and folder != folder.parent:  # not created until the first upload
        folder = folder.parent
    try:
        usage = shutil.disk_usage(folder)
    except OSError:
        return None
    return usage.free / usage.total if usage.total else 0.0


def queue_depths(celery, queues) -> dict[str, int]:
    from kombu.exceptions import ChannelError

    out = {}
    try:
        with celery.connection_for_read() as conn:
            for name in queues:
                try:
                    out[name] = conn.default_channel.queue_declare(queue=name, passive=True).message_count
                except ChannelError:  # Redis drops an empty queue's key: "not found" means empty
                    out[name] = 0
    except Exception:  # noqa: BLE001 - a broker outage must not break the scrape; alerts see the gap
        log.warning("could not read queue depths", exc_info=True)
    return out


def live_workers(app: Flask) -> int:
    try:
        return int(app.extensions["redis"].zcount(WORKERS_KEY, time.time() - WORKER_STALE_SECONDS, "+inf"))
    except Exception:  # noqa: BLE001
        return 0


# --- database hooks ---------------------------------------------------------------------------

def watch_engine(engine, slow_query_ms: float) -> None:
    """Pool use (checked-out connections against the pool's capacity) and slow statements."""
    from sqlalchemy import event

    pool = engine.pool
    capacity = getattr(pool, "size", lambda: 0)() + max(0, getattr(pool, "_max_overflow", 0))
    warn_at = 0.9 * capacity if capacity else float("inf")
    in_use = {"n": 0}

    @event.listens_for(engine, "connect")
    def _connected(*_):
        DB_POOL_CAPACITY.set(capacity)  # once per process: livesum adds the live processes' pools

    @event.listens_for(engine, "checkout")
    def _checkout(*_):
        DB_POOL_IN_USE.inc()
        in_use["n"] += 1
        if in_use["n"] >= warn_at:
            log.warning("database pool nearly exhausted", extra={"in_use": in_use["n"], "capacity": capacity})

    @event.listens_for(engine, "checkin")
    def _checkin(*_):
        DB_POOL_IN_USE.dec()
        in_use["n"] -= 1

    threshold = slow_query_ms / 1000.0

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        conn.info["knowrithm_query_started"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        started = conn.info.pop("knowrithm_query_started", None)
        if started is not None and time.perf_counter() - started > threshold:
            DB_SLOW_QUERIES.inc()
            log.warning("slow query", extra={"latency_ms": round((time.perf_counter() - started) * 1000, 2),
                                              "statement": statement[:300]})


# --- the worker's exporter ----------------------------------------------------------------------

def start_worker_exporter(app: Flask) -> threading.Thread | None:
    """Serves the worker's metrics on METRICS_WORKER_PORT (token required); None when off."""
    settings = app.config["SETTINGS"]
    if not settings.METRICS_TOKEN or not settings.METRICS_WORKER_PORT:
        return None
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    token = settings.METRICS_TOKEN

    def wsgi(environ, start_response):
        if not authorised(environ.get("HTTP_AUTHORIZATION"), token):
            start_response("401 Unauthorized", [("Content-Type", "text/plain")])
            return [b"unauthorised\n"]
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [generate_latest(process_registry())]

    class Quiet(WSGIRequestHandler):
        def log_message(self, *_):  # scrapes every few seconds are not news
            pass

    try:
        server = make_server(settings.METRICS_BIND, settings.METRICS_WORKER_PORT, wsgi, handler_class=Quiet)
    except OSError as exc:  # the worker still runs its tasks; only its metrics are missing
        log.error("worker metrics exporter cannot listen on %s:%s (%s): set METRICS_WORKER_PORT to a free port",
                  settings.METRICS_BIND, settings.METRICS_WORKER_PORT, exc)
        return None
    thread = threading.Thread(target=server.serve_forever, name="metrics-exporter", daemon=True)
    thread.start()
    log.info("worker metrics on %s:%s", settings.METRICS_BIND, settings.METRICS_WORKER_PORT)
    return thread


def mark_process_dead(pid: int) -> None:
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
