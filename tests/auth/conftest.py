"""Fixtures for the identity tests: a real SMTP server, a fake Resend endpoint, logins."""
from __future__ import annotations

import email
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from knowrithm.infra.embedded import free_port


class Mailbox:
    def __init__(self):
        self.messages: list[email.message.Message] = []
        self._cond = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        msg = email.message_from_bytes(envelope.content)
        msg["X-Rcpt-To"] = ",".join(envelope.rcpt_tos)
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, to: str, subject_contains: str = "", timeout: float = 30.0) -> email.message.Message:
        deadline = time.time() + timeout
        with self._cond:
            while True:
                for msg in self.messages:
                    if to in msg["X-Rcpt-To"] and subject_contains in msg["Subject"]:
                        return msg
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError(f"no mail to {to} ({subject_contains!r}) arrived; got "
                                         f"{[(m['X-Rcpt-To'], m['Subject']) for m in self.messages]}")
                self._cond.wait(left)

    def to(self, address: str) -> list:
        return [m for m in self.messages if address in m["X-Rcpt-To"]]


@pytest.fixture
def smtp_server(settings, monkeypatch):
    """A real SMTP server on loopback; the app's settings point at it for this test."""
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setattr(settings, "SMTP_SERVER", "127.0.0.1")
    monkeypatch.setattr(settings, "SMTP_PORT", port)
    monkeypatch.setattr(settings, "SMTP_USE_TLS", False)
    yield mailbox
    controller.stop()


@pytest.fixture
def resend_server(settings, monkeypatch):
    """A loopback stand-in for Resend's HTTP API that records each POST /emails."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
            payload = json.dumps({"id": "email_123"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(settings, "RESEND_API_KEY", "re_test_key")
    monkeypatch.setattr(settings, "RESEND_API_URL", f"http://127.0.0.1:{server.server_port}")
    yield received
    server.shutdown()


def token_in(msg, marker: str) -> str:
    """The token printed on the line after `marker` in a mail body."""
    body = msg.get_payload(decode=True).decode() if not msg.is_multipart() else \
        msg.get_payload(0).get_payload(decode=True).decode()
    lines = body.splitlines()
    for i, line in enumerate(lines):
        if marker in line:
            return lines[i + 1].strip()
    raise AssertionError(f"no {marker!r} in mail:\n{body}")


@pytest.fixture
def login(sdk_factory):
    """`login(email, password)` -> (tokens dict, {"Authorization": "Bearer ..."}) through the SDK."""

    def do(email_addr: str, password: str):
        body = sdk_factory().auth.login(email_addr, password)
        return body, {"Authorization": f"Bearer {body['access_token']}"}

    return do


@pytest.fixture
def admin_a(companies, login):
    return login(companies[0].admin_email, companies[0].password)[1]


@pytest.fixture
def admin_b(companies, login):
    return login(companies[1].admin_email, companies[1].password)[1]
