"""The public edge: which browser origins may call which route, proxy headers, security headers.

CORS: the widget runs on customers' sites, so its public routes (flagged `widget=True` on
the route) echo any origin; every other route answers only the origins in `CORS_ORIGINS`
(empty by default: browsers on other sites cannot read staff APIs at all). Requests without
an `Origin` header (servers, SDKs) are not affected by CORS.

Proxies: with `TRUSTED_PROXY_COUNT=N`, werkzeug's ProxyFix takes the client address and
scheme from the last N hops of X-Forwarded-For/-Proto; with 0 those headers are ignored,
so a forged header changes neither rate limits nor audit IPs
(https://werkzeug.palletsprojects.com/en/stable/middleware/proxy_fix/).
"""
from __future__ import annotations

import json

from flask import Flask, Response, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

from .errors import envelope, http_code

CORS_HEADERS = "Content-Type, Authorization, X-API-Key, X-API-Secret, Accept, X-Request-ID, Last-Event-ID"
CORS_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
HSTS = "max-age=31536000; includeSubDomains"


def install_proxy_fix(app: Flask, trusted_proxies: int) -> None:
    if trusted_proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted_proxies, x_proto=trusted_proxies)  # type: ignore


def cors_origins(settings) -> frozenset[str]:
    return frozenset(o.strip().rstrip("/").lower() for o in (settings.CORS_ORIGINS or "").split(",") if o.strip())


def is_widget_route() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "widget_route", False))


def apply_cors(resp: Response) -> None:
    origin = request.headers.get("Origin")
    if not origin:
        return
    allowed = cors_origins(current_app.config["SETTINGS"])
    if not (is_widget_route() or "*" in allowed or origin.rstrip("/").lower() in allowed):
        resp.headers.add("Vary", "Origin")
        return
    # Echo the origin (not "*") because the widget sends credentials.
    resp.headers["Access-Control-Allow-Origin"] = origin
    resp.headers["Access-Control-Allow-Credentials"] = "true"
    resp.headers.add("Vary", "Origin")
    resp.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
    resp.headers["Access-Control-Allow-Methods"] = CORS_METHODS
    resp.headers["Access-Control-Expose-Headers"] = "X-Request-ID, Retry-After"
    resp.headers["Access-Control-Max-Age"] = "600"


def apply_security_headers(resp: Response) -> None:
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if request.is_secure:  # https, directly or through a trusted proxy's X-Forwarded-Proto
        resp.headers.setdefault("Strict-Transport-Security", HSTS)
    if resp.mimetype == "text/html":
        # Only our own pages may frame ours (the console previews the widget test page):
        # no other site can (clickjacking). A page with its own policy keeps it.
        csp = resp.headers.get("Content-Security-Policy")
        if not csp:
            resp.headers["Content-Security-Policy"] = "frame-ancestors 'self'"
        elif "frame-ancestors" not in csp:
            resp.headers["Content-Security-Policy"] = csp + "; frame-ancestors 'self'"
        resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")


def gunicorn_error(status_int: int, reason: str, mesg: str) -> bytes:
    """gunicorn's own answer to a request it cannot parse (request line or headers too long,
    bad syntax), as the JSON error envelope instead of its HTML page. Installed over
    `gunicorn.util.write_error` by `knowrithm.gunicorn_conf`."""
    code = "URI_TOO_LONG" if status_int == 414 else http_code(status_int)
    body = json.dumps(envelope(reason or "Bad request", code, {"request": [str(mesg)[:200]]} if mesg else None))
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body.encode())}\r\nX-Content-Type-Options: nosniff\r\n\r\n")
    return head.encode("latin1") + body.encode()


def install_gunicorn_errors() -> None:
    from gunicorn import util

    def write_error(sock, status_int, reason, mesg):
        util.write_nonblock(sock, gunicorn_error(status_int, reason, mesg))

    util.write_error = write_error
