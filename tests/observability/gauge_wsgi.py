"""A WSGI app for the multiprocess-directory test: each request sets a live-summed gauge in the
worker (so the worker has a `gauge_livesum_<pid>.db` file) and answers with the worker's pid."""
import os

from prometheus_client import Gauge

LIVE = Gauge("knowrithm_test_live", "a gauge only live processes count", multiprocess_mode="livesum")


def app(environ, start_response):
    LIVE.set(1)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
