"""gunicorn settings for the API (`gunicorn -c python:knowrithm.gunicorn_conf ...`).

gevent workers hold thousands of idle Server-Sent-Event streams at the cost of one
greenlet each (a gthread worker would spend a whole thread per open stream). The patch
happens here, in the master, before `--preload` imports the app, so the database, Redis
and HTTP clients the app creates are cooperative in every forked worker.
"""
from gevent import monkey

monkey.patch_all()

worker_class = "gevent"
worker_connections = 5000
timeout = 120
graceful_timeout = 10


def when_ready(server):
    """The app is loaded (--preload): move its objects out of the collector's reach. Full
    collections over ~200k long-lived objects cost ~100 ms pauses (bench/auth_overhead.py),
    and frozen objects also stay shared copy-on-write with the forked workers."""
    import gc

    gc.collect()
    gc.freeze()
