"""One `ApiRequestLog` row per authenticated request (API key, user JWT, widget visitor) and
per anonymous request on the widget's public routes (counted for the agent's company when the
route found it), written off the hot path.

The after-request hook only appends a compact record to a list in the process (a few
microseconds); a background thread pushes that list to a Redis list every PUSH_SECONDS (one
RPUSH for the batch), and `flush()` moves the Redis buffer into PostgreSQL in one multi-row
INSERT, bumping each key's `usage_count`/`last_used_at` once per flush. Readers of those
figures (the usage analytics, the key listing, `/auth/validate`) flush first (their own
process's list included), so they are at most PUSH_SECONDS behind other processes; when the
Redis buffer grows past `FLUSH_AT` the pushing thread asks a worker to flush it (past
`FLUSH_INLINE_AT`, with no worker draining, it flushes itself), and the maintenance task
drains whatever a quiet server leaves behind.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from datetime import datetime, timezone

import redis
from flask import Flask, Response, current_app, g, request
from sqlalchemy import bindparam, func, insert, update

from knowrithm.domains.analytics.models import ApiRequestLog
from knowrithm.infra.auth import attributed_company
from knowrithm.infra.db import db
from knowrithm.infra.parsing import parse_uuid
from knowrithm.infra.redis import get_redis

from .models import ApiKey

log = logging.getLogger(__name__)

BUFFER_KEY = "knowrithm:apilog:buffer"
FLUSH_AT = 500                 # buffered rows that ask a worker to flush (FLUSH_TASK)
FLUSH_INLINE_AT = 20 * FLUSH_AT  # no worker drained it: the API flushes rather than let Redis grow
FLUSH_TASK = "knowrithm.maintenance.flush_api_request_logs"
FLUSH_REQUESTED_KEY = "knowrithm:apilog:flush-requested"
FLUSH_REQUEST_SECONDS = 10     # one request in flight; a lost one is asked again after this
BATCH = 5000
PUSH_SECONDS = 0.5
MAX_PENDING = 100_000  # while Redis is down the newest records are kept up to this many
ANONYMOUS = "anonymous"  # auth_type of a request without credentials (the widget's public routes)

_pending: list[str] = []
_lock = threading.Lock()
_pusher: dict = {"pid": None}


def install(app: Flask) -> None:
    @app.after_request
    def _log_request(resp: Response) -> Response:
        principal = g.get("principal")
        if principal is not None:
            who = [_str(principal.api_key_id), _str(principal.company_id), _str(principal.user_id), principal.kind,
                   _str(principal.lead_id)]
        else:
            # Anonymous: counted for the company the route found (attribute_request), and on the
            # widget's routes even when it found none (the platform-wide figures count those).
            company_id = attributed_company()
            if company_id is None and not _is_widget_route():
                return resp
            who = [None, _str(company_id), None, ANONYMOUS, None]
        started = g.get("started")
        elapsed_ms = (time.perf_counter() - started) * 1000 if started else 0.0
        endpoint = request.url_rule.rule if request.url_rule is not None else request.path
        record = json.dumps([who[0], who[1], who[2], request.method, endpoint[:255], resp.status_code,
                             round(elapsed_ms, 3), time.time(), who[3], who[4],
                             (request.remote_addr or "")[:45] or None])
        with _lock:
            _pending.append(record)
        if _pusher["pid"] != os.getpid():  # first request of this (possibly forked) process
            _start_pusher(current_app._get_current_object())
        return resp


def _is_widget_route() -> bool:
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    return bool(getattr(view, "widget_route", False))


def _start_pusher(app: Flask) -> None:
    with _lock:
        if _pusher["pid"] == os.getpid():
            return
        _pusher["pid"] = os.getpid()

    def run():
        while True:
            time.sleep(PUSH_SECONDS)
            try:
                with app.app_context():
                    buffered = push_pending()
                    if buffered >= FLUSH_INLINE_AT:
                        flush()
                    elif buffered >= FLUSH_AT:
                        _request_flush(app)
            except Exception:  # noqa: BLE001 - the records stay buffered for the next round
                log.exception("pushing request logs failed")

    threading.Thread(target=run, name="api-log-push", daemon=True).start()


def _request_flush(app: Flask) -> None:
    """A worker moves the buffer into PostgreSQL: in this process the multi-row INSERT would hold
    every request of this gevent worker for its length (the p99 of the hot reads)."""
    if get_redis().set(FLUSH_REQUESTED_KEY, "1", nx=True, ex=FLUSH_REQUEST_SECONDS):
        app.extensions["celery"].send_task(FLUSH_TASK)


def flush_requested() -> int:
    """The worker's side of `_request_flush`: drain, then allow the next request."""
    try:
        return flush()
    finally:
        get_redis().delete(FLUSH_REQUESTED_KEY)


def push_pending() -> int:
    """Moves this process's records to the Redis buffer; returns the buffer's length."""
    with _lock:
        items = _pending[:]
        _pending.clear()
    if not items:
        return 0
    try:
        return get_redis().rpush(BUFFER_KEY, *items)
    except redis.RedisError:
        with _lock:
            _pending[:0] = items
            del _pending[:max(0, len(_pending) - MAX_PENDING)]
        log.warning("could not buffer %d request log rows", len(items), exc_info=True)
        return 0


def _str(value) -> str | None:
    return str(value) if value is not None else None


def flush() -> int:
    """Moves buffered rows into the database; returns how many. Safe to run concurrently."""
    total = 0
    push_pending()
    r = get_redis()
    while True:
        try:
            pipe = r.pipeline(transaction=True)  # LRANGE+LTRIM atomically: no row is taken twice
            pipe.lrange(BUFFER_KEY, 0, BATCH - 1)
            pipe.ltrim(BUFFER_KEY, BATCH, -1)
            raw, _ = pipe.execute()
        except redis.RedisError:
            log.warning("could not read the API request log buffer", exc_info=True)
            return total
        if not raw:
            return total
        _write([json.loads(item) for item in raw])
        total += len(raw)
        if len(raw) < BATCH:
            return total


def _write(items: list[list]) -> None:
    rows, usage = [], {}
    for item in items:
        # Rows buffered by an older release have 8 fields (API keys only).
        key_id, company_id, user_id, method, endpoint, status, ms, ts = item[:8]
        auth_type, lead_id, ip = (item[8:] + [None, None, None])[:3] if len(item) > 8 else ("api_key", None, None)
        at = datetime.fromtimestamp(ts, tz=timezone.utc)
        rows.append({"id": uuid.uuid4(), "api_key_id": parse_uuid(key_id), "company_id": parse_uuid(company_id),
                     "user_id": parse_uuid(user_id), "method": method, "endpoint": endpoint, "status_code": status,
                     "response_time_ms": ms, "created_at": at, "auth_type": auth_type, "lead_id": parse_uuid(lead_id),
                     "ip_address": ip})
        if key_id:
            count, last = usage.get(key_id, (0, at))
            usage[key_id] = (count + 1, max(last, at))

    keys = ApiKey.__table__
    # A separate connection: the request's session may hold unrelated, uncommitted work.
    with db.engine.begin() as conn:
        conn.execute(insert(ApiRequestLog.__table__), rows)
        if usage:
            conn.execute(
                update(keys).where(keys.c.id == bindparam("key_id")).values(
                    usage_count=keys.c.usage_count + bindparam("n"),
                    last_used_at=func.greatest(func.coalesce(keys.c.last_used_at, bindparam("at")), bindparam("at"))),
                [{"key_id": uuid.UUID(k), "n": n, "at": at} for k, (n, at) in usage.items()],
            )
