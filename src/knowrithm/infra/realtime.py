"""Socket.IO v4 (Engine.IO v4) next to the Flask app, for the widget's realtime channel.

The server runs inside the API's own workers: gevent under gunicorn (WebSockets through
simple-websocket on gunicorn's socket), threads under Werkzeug in development and tests.
Its client manager is Redis pub/sub, so an event emitted anywhere (the Celery worker that
built an answer, or any API process) reaches the clients of every API node: publishers use
`emit()`, a write-only manager on the same channel. Domains register their event handlers
with `on_init`; the conversations domain owns authentication and rooms.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable

import socketio
from gevent import monkey
from redis.connection import parse_url

log = logging.getLogger(__name__)

PATH = "socket.io"
CLIENT_JS_PATH = "/socket.io/socket.io.js"
CLIENT_JS = Path(__file__).resolve().parents[1] / "static" / "socketio" / "socket.io.min.js"

_initialisers: list[Callable[[socketio.Server, object], None]] = []
_emitters: dict[str, socketio.RedisManager] = {}
_emitters_lock = threading.Lock()


def channel_for(redis_url: str) -> str:
    # Pub/sub ignores the database number; naming it keeps installations (and test runs) that share
    # one Redis server on different databases apart.
    return f"knowrithm-socketio:{parse_url(redis_url).get('db', 0)}"


def async_mode() -> str:
    return "gevent" if monkey.is_module_patched("socket") else "threading"


def on_init(fn: Callable[[socketio.Server, object], None]):
    """Registers `fn(sio, app)`, called when the app mounts its Socket.IO server."""
    _initialisers.append(fn)
    return fn


class _App(socketio.WSGIApp):
    """Engine.IO owns /socket.io/ except the client library, which the Flask app serves."""

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO") or ""
        # Everything else goes straight to Flask: Engine.IO's dispatch (which defines a class on
        # every call) cost ~3 % of a cached API read.
        if path == CLIENT_JS_PATH or not path.startswith(self.engineio_path):
            return self.wsgi_app(environ, start_response)
        return super().__call__(environ, start_response)


def _client_js():
    from flask import Response

    resp = Response(CLIENT_JS.read_bytes(), mimetype="application/javascript")
    resp.headers["Content-Type"] = "application/javascript; charset=utf-8"
    resp.headers["Cache-Control"] = "public, max-age=86400"
    resp.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return resp


class _Manager(socketio.RedisManager):
    """Calls `delivery_hooks(manager, event, data, room)` once an event reached this node's
    sockets. Domains use it for what delivery means to them (an answer its participant
    received is not replayed by a later stream)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.delivery_hooks: list = []

    def _handle_emit(self, message):
        super()._handle_emit(message)
        data = message.get("data")
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
        for hook in self.delivery_hooks:
            try:
                hook(self, message.get("event"), data, message.get("room"))
            except Exception:  # noqa: BLE001 - the event was delivered; bookkeeping must not break it
                log.warning("socket delivery hook failed", exc_info=True)


def local_members(manager, room: str) -> bool:
    """Whether this node has a socket in `room` (other nodes answer for theirs)."""
    return any(True for _ in manager.get_participants("/", room))


def mount(app) -> socketio.Server:
    settings = app.config["SETTINGS"]
    manager = _Manager(settings.redis_url, channel=channel_for(settings.redis_url))
    sio = socketio.Server(async_mode=async_mode(), client_manager=manager, cors_allowed_origins="*",
                          cors_credentials=True, logger=False, engineio_logger=False)
    for init in _initialisers:
        init(sio, app)
    app.add_url_rule(CLIENT_JS_PATH, "socketio_client_js", _client_js)
    app.wsgi_app = _App(sio, app.wsgi_app, socketio_path=PATH)
    app.extensions["socketio"] = sio
    return sio


def emit(redis_url: str, event: str, data: dict, room: str) -> None:
    """Publish to the Socket.IO clients in `room` on every API node (from any process)."""
    with _emitters_lock:
        emitter = _emitters.get(redis_url)
        if emitter is None:
            emitter = _emitters[redis_url] = socketio.RedisManager(
                redis_url, channel=channel_for(redis_url), write_only=True)
    try:
        emitter.emit(event, data, room=room, namespace="/")
    except Exception:  # noqa: BLE001 - the answer is saved; the widget falls back to polling
        log.warning("could not emit %s to %s", event, room, exc_info=True)
