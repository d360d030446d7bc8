"""One Redis client per process (cache, rate limits, token revocation, pub/sub)."""
from __future__ import annotations

import redis
from flask import Flask, current_app

# Workers announce themselves in this sorted set (member = worker name, score = last beat);
# the health route and the metrics exporter count the ones seen within the stale window.
WORKERS_KEY = "knowrithm:workers"
WORKER_STALE_SECONDS = 30


def init_redis(app: Flask) -> None:
    settings = app.config["SETTINGS"]
    # A blocking pool: under gevent thousands of requests may want Redis at once, and redis-py's
    # default pool raises "Too many connections" beyond 100 instead of waiting for a free one.
    pool = redis.BlockingConnectionPool.from_url(settings.redis_url, decode_responses=True,
                                                 socket_connect_timeout=2, socket_timeout=5,
                                                 health_check_interval=30, max_connections=200, timeout=10)
    app.extensions["redis"] = redis.Redis(connection_pool=pool)


def get_redis() -> redis.Redis:
    return current_app.extensions["redis"]
