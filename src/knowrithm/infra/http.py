"""HTTP plumbing shared by every route: URL prefixes, request ids, CORS (infra.edge), access logs
(INFO, or WARNING above `SLOW_REQUEST_MS`; the fields come from `infra.logs`)."""
from __future__ import annotations

import logging
import time
import uuid

from flask import Flask, Response, current_app, g, has_request_context, request
from flask.sessions import SessionInterface

from .edge import apply_cors, apply_security_headers, install_proxy_fix
from .tenancy import set_company_scope

log = logging.getLogger("knowrithm.access")

CANONICAL = "/api/v1"
# Utility routes are served at every prefix some client uses (docs/api-compatibility.md, "Prefixes").
UTILITY_ALIASES = {
    "/health": "/api/v1/health",
    "/api/health": "/api/v1/health",
    "/health/live": "/api/v1/health/live",
    "/widget.js": "/api/v1/widget.js",
    "/api/widget.js": "/api/v1/widget.js",
    "/test": "/api/v1/test",
}


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


class NoCookieSessions(SessionInterface):
    """The API authenticates every request by its own credentials and never uses Flask's signed
    cookie session; the default interface would still build a signing serializer and look
    for the cookie on every request. Flask substitutes its null session (which refuses
    writes) when `open_session` returns None."""

    def open_session(self, app, request):
        return None

    def save_session(self, app, session, response) -> None:
        return None


def request_origin() -> dict:
    """Where the current request came from, for audit rows; empty outside a request."""
    if not has_request_context():
        return {}
    # remote_addr, made the real client's by ProxyFix only behind trusted proxies (infra.edge).
    return {"ip_address": request.remote_addr or "",
            "user_agent": (request.user_agent.string or "")[:500],
            "request_id": g.get("request_id")}


def is_read_request() -> bool:
    """GET and HEAD: their database reads need no transaction of their own (infra.db.lazy_transactions)."""
    return has_request_context() and request.method in ("GET", "HEAD")


def init_http(app: Flask) -> None:
    app.session_interface = NoCookieSessions()
    app.wsgi_app = PrefixAliases(app.wsgi_app)
    install_proxy_fix(app, app.config["SETTINGS"].TRUSTED_PROXY_COUNT)
    # Responses slower than this are logged at WARNING (the rest at INFO).
    app.config["SLOW_REQUEST_MS"] = float(app.config["SETTINGS"].SLOW_REQUEST_MS)

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
        apply_cors(resp)
        apply_security_headers(resp)
        started = g.get("started")
        latency_ms = round((time.perf_counter() - started) * 1000, 2) if started else 0.0
        slow = latency_ms > current_app.config["SLOW_REQUEST_MS"]
        if slow or log.isEnabledFor(logging.INFO):
            principal = g.get("principal")
            log.log(logging.WARNING if slow else logging.INFO, "slow request" if slow else "request", extra={
                "method": request.method, "path": request.path, "status": resp.status_code,
                "latency_ms": latency_ms,
                "company_id": str(principal.company_id) if principal and principal.company_id else None,
            })
        return resp
