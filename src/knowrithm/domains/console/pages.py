"""Serves the web console: one HTML shell for every console path, and its static modules.

The console is a client like the SDK: it only calls `/api/v1`. The server's part is the shell,
the assets and a strict Content-Security-Policy (no inline script: the shell loads `main.js`
as a module). Mailed links (`/verify`, `/reset-password`, see domains/auth/email.py) land here.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, redirect, send_from_directory

ROOT = Path(__file__).resolve().parents[2] / "static" / "console"

# `frame-src 'self'`: the agent page previews the widget in the sandboxed /api/v1/test page.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

bp = Blueprint("console", __name__)


def _shell() -> Response:
    settings = current_app.config["SETTINGS"]
    html = (ROOT / "index.html").read_text(encoding="utf-8")
    # Page configuration travels in a meta tag, not in an inline script the CSP would block.
    html = html.replace("{{signup}}", "true" if settings.ALLOW_PUBLIC_REGISTRATION else "false")
    resp = Response(html, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-cache"
    _harden(resp)
    return resp


def _harden(resp: Response) -> None:
    resp.headers.setdefault("Content-Security-Policy", CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")


@bp.get("/")
def root():
    return redirect("/app", code=302)


@bp.get("/app")
@bp.get("/app/")
@bp.get("/app/<path:_path>")
@bp.get("/verify")
@bp.get("/reset-password")
def shell(_path: str = ""):
    return _shell()


@bp.get("/console/<path:filename>")
def asset(filename: str):
    resp = send_from_directory(ROOT, filename)
    # Revalidate (ETag) on every load: modules import each other by plain URL, so a long
    # max-age would mix old and new modules after an upgrade.
    resp.headers["Cache-Control"] = "no-cache"
    _harden(resp)
    return resp


def register_console(app: Flask) -> None:
    app.register_blueprint(bp)
