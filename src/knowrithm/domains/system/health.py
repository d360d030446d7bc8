"""Dependency checks behind the health route: database, Redis and a live Celery worker."""
from __future__ import annotations

import socket
import threading
import time

from sqlalchemy import text

from knowrithm.infra.db import db
from knowrithm.infra.redis import WORKER_STALE_SECONDS, WORKERS_KEY, get_redis


def check_database() -> dict:
    started = time.perf_counter()
    try:
        db.session.execute(text("SELECT 1"))
        return {"status": "healthy", "latency_ms": _ms(started)}
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        db.session.rollback()
        return {"status": "unhealthy", "error": str(exc).splitlines()[0][:200]}


def check_redis() -> dict:
    started = time.perf_counter()
    try:
        get_redis().ping()
        return {"status": "healthy", "latency_ms": _ms(started)}
    except Exception as exc:  # noqa: BLE001
        return {"status": "unhealthy", "error": str(exc)[:200]}


def check_workers() -> dict:
    try:
        now = time.time()
        live = get_redis().zrangebyscore(WORKERS_KEY, now - WORKER_STALE_SECONDS, "+inf")
    except Exception as exc:  # noqa: BLE001
        return {"status": "unhealthy", "error": f"cannot read worker heartbeats: {str(exc)[:160]}"}
    if not live:
        return {"status": "unhealthy", "error": "no live Celery worker"}
    return {"status": "healthy", "workers": len(live)}


# A healthy answer is reused for this long by the same process: load balancers and monitors
# poll health many times a second, and each check costs a database and two Redis round trips.
# Unhealthy answers are never reused, so a recovery shows at once; an outage shows within this.
HEALTHY_CACHE_SECONDS = 1.0
_last_healthy: dict = {}


def report() -> tuple[dict, bool]:
    from flask import current_app

    # Keyed by the app and its Redis client: a reconfigured app never sees another's answer.
    key = (id(current_app._get_current_object()), id(get_redis()))
    cached = _last_healthy.get(key)
    if cached and time.monotonic() - cached[0] < HEALTHY_CACHE_SECONDS:
        return dict(cached[1]), True
    body, ok = _check()
    if ok:
        _last_healthy.clear()  # one entry per process is enough
        _last_healthy[key] = (time.monotonic(), body)
    return body, ok


def _check() -> tuple[dict, bool]:
    checks = {"database": check_database(), "redis": check_redis(), "worker": check_workers()}
    failed = [name for name, c in checks.items() if c["status"] != "healthy"]
    body = {"status": "unhealthy" if failed else "healthy", "service": "knowrithm",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "checks": checks}
    if failed:
        body["failed"] = failed
        body["error"] = "unhealthy: " + ", ".join(failed)
        body["message"] = body["error"]
    return body, not failed


def start_worker_heartbeat(redis_client, hostname: str | None = None, interval: float = 10.0) -> threading.Event:
    """Called in each worker process: keeps the worker's entry in the live set fresh."""
    stop = threading.Event()
    name = hostname or f"{socket.gethostname()}:{threading.get_native_id()}"

    def beat():
        while not stop.is_set():
            try:
                redis_client.zadd(WORKERS_KEY, {name: time.time()})
                redis_client.zremrangebyscore(WORKERS_KEY, "-inf", time.time() - 5 * WORKER_STALE_SECONDS)
            except Exception:  # noqa: BLE001 - keep beating; health shows the outage
                pass
            stop.wait(interval)
        try:
            redis_client.zrem(WORKERS_KEY, name)
        except Exception:  # noqa: BLE001
            pass

    threading.Thread(target=beat, name="knowrithm-heartbeat", daemon=True).start()
    return stop


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
