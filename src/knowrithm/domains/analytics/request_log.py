"""One `ApiRequestLog` row per API-key request, written off the hot path.

The after-request hook appends a compact record to a Redis list (one RPUSH); `flush()`
moves the buffer into PostgreSQL in one multi-row INSERT and bumps each key's
`usage_count`/`last_used_at` once per flush. Readers of those figures (the usage
analytics, the key listing, `/auth/validate`) flush first, so they never see stale
numbers; when the buffer grows past `FLUSH_AT` the hook starts a flush in a background
thread (the request that crossed the mark does not wait for a 500-row INSERT), and the
maintenance task drains whatever a quiet server leaves behind.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from datetime import datetime, timezone

import redis
from flask import Flask, Response, current_app, g, request
from sqlalchemy import bindparam, func, insert, update

from knowrithm.infra.db import db
from knowrithm.infra.redis import get_redis

from .models import ApiRequestLog

log = logging.getLogger(__name__)

BUFFER_KEY = "knowrithm:apilog:buffer"
FLUSH_AT = 500
BATCH = 5000


def install(app: Flask) -> None:
    @app.after_request
    def _log_api_key_request(resp: Response) -> Response:
        entry = g.get("api_key_entry")
        if entry is None:
            return resp
        started = g.get("started")
        elapsed_ms = (time.perf_counter() - started) * 1000 if started else 0.0
        endpoint = request.url_rule.rule if request.url_rule is not None else request.path
        record = json.dumps([str(entry.id), str(entry.company_id), str(entry.user_id), request.method,
                             endpoint[:255], resp.status_code, round(elapsed_ms, 3), time.time()])
        try:
            if get_redis().rpush(BUFFER_KEY, record) >= FLUSH_AT:
                _flush_in_background(current_app._get_current_object())
        except redis.RedisError:
            log.warning("could not buffer an API request log row", exc_info=True)
        return resp


_flushing = threading.Lock()


def _flush_in_background(app: Flask) -> None:
    if not _flushing.acquire(blocking=False):
        return  # this process is already draining the buffer

    def run():
        try:
            with app.app_context():
                flush()
        except Exception:  # noqa: BLE001 - the rows stay buffered for the next flush
            log.exception("background flush of API request logs failed")
        finally:
            _flushing.release()

    threading.Thread(target=run, name="api-log-flush", daemon=True).start()


def flush() -> int:
    """Moves buffered rows into the database; returns how many. Safe to run concurrently."""
    total = 0
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
    for key_id, company_id, user_id, method, endpoint, status, ms, ts in items:
        at = datetime.fromtimestamp(ts, tz=timezone.utc)
        rows.append({"id": uuid.uuid4(), "api_key_id": uuid.UUID(key_id), "company_id": uuid.UUID(company_id),
                     "user_id": uuid.UUID(user_id), "method": method, "endpoint": endpoint, "status_code": status,
                     "response_time_ms": ms, "created_at": at})
        count, last = usage.get(key_id, (0, at))
        usage[key_id] = (count + 1, max(last, at))
    from knowrithm.domains.auth.models import ApiKey

    keys = ApiKey.__table__
    # A separate connection: the request's session may hold unrelated, uncommitted work.
    with db.engine.begin() as conn:
        conn.execute(insert(ApiRequestLog.__table__), rows)
        conn.execute(
            update(keys).where(keys.c.id == bindparam("key_id")).values(
                usage_count=keys.c.usage_count + bindparam("n"),
                last_used_at=func.greatest(func.coalesce(keys.c.last_used_at, bindparam("at")), bindparam("at"))),
            [{"key_id": uuid.UUID(k), "n": n, "at": at} for k, (n, at) in usage.items()],
        )
