"""HTTP plumbing shared by every route: URL prefixes, request ids, CORS, access logs."""
from __future__ import annotations

import logging
import time
import uuid

from flask import Flask, Response, g, request

from .tenancy import set_company_scope

log = logging.getLogger("knowrithm.access")

CANONICAL = "/api/v1"
# Utility routes are served at every prefix some client uses (CONTRACT §1.1).
UTILITY_ALIASES = {
    "/health": "/api/v1/health",
    "/api/health": "/api/v1/health",
    "/widget.js": "/api/v1/widget.js",
    "/api/widget.js": "/api/v1/widget.js",
    "/test": "/api/v1/test",
}
CORS_HEADERS = "Content-Type, Authorization, X-API-Key, X-API-Secret, Accept, X-Request-ID, Last-Event-ID"
CORS_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"


class PrefixAliases:
    """WSGI middleware: `/v1/...` is `/api/v1/...`; utility paths map to their canonical route."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path in UTILITY_ALIASES:
            environ["PATH_INFO"] = UTILITY_ALIASES[path]
        elif path == "/v1" or path.startswith("/v1/"):
            environ["PATH_INFO"] = "/api" + path
        return self.wsgi_app(environ, start_response)


def init_http(app: Flask) -> None:
    app.wsgi_app = PrefixAliases(app.wsgi_app)

    @app.before_request
    def _start():
        # Worker threads are reused across requests: never inherit the last caller's company.
        set_company_scope(None)
        g.started = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if 0 < len(incoming) <= 128 and incoming.isprintable() else uuid.uuid4().hex
        if request.method == "OPTIONS":
            return Response(status=204)
        return None

    @app.after_request
    def _finish(resp: Response):
        resp.headers["X-Request-ID"] = g.get("request_id") or uuid.uuid4().hex
        origin = request.headers.get("Origin")
        if origin:
            # Echo the origin (not "*") because the widget sends credentials.
            resp.headers["Access-Control-Allow-Origin"] = origin
            resp.headers["Access-Control-Allow-Credentials"] = "true"
            resp.headers["Vary"] = "Origin"
        else:
            resp.headers.setdefault("Access-Control-Allow-Origin", "*")
        resp.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
        resp.headers["Access-Control-Allow-Methods"] = CORS_METHODS
        resp.headers["Access-Control-Expose-Headers"] = "X-Request-ID, Retry-After"
        resp.headers["Access-Control-Max-Age"] = "600"
        started = g.get("started")
        principal = g.get("principal")
        log.info("request", extra={
            "request_id": resp.headers["X-Request-ID"], "method": request.method, "path": request.path,
            "status": resp.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
            "company_id": str(principal.company_id) if principal and principal.company_id else None,
        })
        return resp


def configure_logging(level: str = "INFO", json_logs: bool = True) -> None:
    root = logging.getLogger()
    if getattr(root, "_knowrithm_configured", False):
        return
    handler = logging.StreamHandler()
    if json_logs:
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                           rename_fields={"asctime": "time", "levelname": "level"}))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.handlers = [handler]
    root.setLevel(level)
    root._knowrithm_configured = True  # type: ignore[attr-defined]
