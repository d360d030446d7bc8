"""gunicorn settings for the API (`gunicorn -c python:knowrithm.gunicorn_conf ...`).

gevent workers hold thousands of idle Server-Sent-Event streams at the cost of one
greenlet each (a gthread worker would spend a whole thread per open stream). The patch
happens here, in the master, before `--preload` imports the app, so the database, Redis
and HTTP clients the app creates are cooperative in every forked worker.
"""
from gevent import monkey

monkey.patch_all()

# Prometheus multiprocess mode (infra/metrics.py): set before the app imports prometheus-client,
# so every forked worker writes its samples where `/metrics` reads them. This module runs once,
# in the master, before the app loads: a directory named in the environment is cleared of the
# files of a previous run here.
from knowrithm.infra import metrics_dir  # noqa: E402

metrics_dir.prepare("knowrithm-metrics-api-")

# Requests gunicorn refuses itself (oversized request line or headers) get the JSON envelope.
from knowrithm.infra.edge import install_gunicorn_errors  # noqa: E402

install_gunicorn_errors()

worker_class = "gevent"
worker_connections = 5000
timeout = 120
# On SIGTERM a worker stops accepting, tells its open event streams to reconnect elsewhere
# (post_worker_init below) and finishes in-flight requests within this many seconds.
graceful_timeout = 10


def when_ready(server):
    """The app is loaded (--preload): move its objects out of the collector's reach. Full
    collections over ~200k long-lived objects cost ~100 ms pauses (bench/auth_overhead.py),
    and frozen objects also stay shared copy-on-write with the forked workers."""
    import gc

    gc.collect()
    gc.freeze()


def child_exit(server, worker):
    """A dead worker's live gauges (pool use, open streams) must stop counting; its counters
    stay, so the totals never go back."""
    from knowrithm.infra.metrics import mark_process_dead

    mark_process_dead(worker.pid)


def post_worker_init(worker):
    """gunicorn's SIGTERM handler only clears `worker.alive`; this greenlet notices it and ends
    every open Server-Sent-Event stream with a `retry:` hint, so the worker's graceful stop is
    not held for `graceful_timeout` by streams that never end on their own."""
    import gevent

    from knowrithm.infra.streaming import drain_streams

    def watch():
        while worker.alive:
            gevent.sleep(0.2)
        drain_streams()

    gevent.spawn(watch)
