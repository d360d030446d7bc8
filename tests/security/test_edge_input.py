"""Malformed input at the edge gets the JSON error envelope and the right status, never a 500,
and changes nothing."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from knowrithm.infra.embedded import free_port as _free_port
from tests.admin.helpers import admin_headers
from tests.infra.test_conventions import assert_envelope


@pytest.mark.parametrize("depth", [100, 1_000, 100_000])
def test_deeply_nested_json_is_a_400_on_public_and_private_routes(http, companies, depth):
    body = '{"email": ' + "[" * depth + "]" * depth + "}"
    resp = http.post("/api/v1/auth/login", data=body, headers={"Content-Type": "application/json"})
    assert_envelope(resp, 400, "MALFORMED_JSON")
    resp = http.put("/api/v1/user/profile", data=body, headers={"Content-Type": "application/json",
                                                                **admin_headers(http, companies[0])})
    assert_envelope(resp, 400, "MALFORMED_JSON")


def test_null_and_non_object_bodies_are_400(http):
    for raw in ("null", "[]", '"text"', "3"):
        resp = http.post("/api/v1/auth/login", data=raw, headers={"Content-Type": "application/json"})
        assert_envelope(resp, 400, "MALFORMED_JSON")


def test_a_body_in_another_content_type_is_415_and_changes_nothing(http, companies):
    headers = admin_headers(http, companies[0])
    before = http.get("/api/v1/user/profile", headers=headers).json()
    for ctype in ("text/xml", "application/octet-stream", "application/yaml"):
        resp = http.put("/api/v1/user/profile", data=json.dumps({"first_name": "Changed"}),
                        headers={**headers, "Content-Type": ctype})
        assert_envelope(resp, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert http.get("/api/v1/user/profile", headers=headers).json() == before
    # JSON (and a body-less call) still work.
    assert http.put("/api/v1/user/profile", json={"timezone": "UTC"}, headers=headers).status_code == 200


def _raw(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


@pytest.fixture
def gunicorn_server(tmp_path):
    import gunicorn

    port = _free_port()
    args = [sys.executable, "-m", "gunicorn", "-c", "python:knowrithm.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
            "--workers", "1", "tests.security.tiny_wsgi:app"]
    if gunicorn.version_info >= (27,):
        args.insert(3, "--no-control-socket")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    proc = subprocess.Popen(args, cwd=Path(__file__).resolve().parents[2], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read().decode()[-2000:])
            time.sleep(0.2)
    yield port
    proc.terminate()
    proc.wait(timeout=30)


def _split(response: bytes) -> tuple[int, dict, dict]:
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body)


def test_gunicorn_refusals_are_json_envelopes(gunicorn_server):
    assert _raw(gunicorn_server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 200")
    # Sizes gunicorn reads in one go, so it closes cleanly instead of resetting on unread bytes.
    status, headers, body = _split(_raw(gunicorn_server, b"GET /" + b"a" * 5_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert status == 414 and headers["Content-Type"] == "application/json"
    assert body["success"] is False and body["code"] == "URI_TOO_LONG" and body["error"]
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(150))  # over limit_request_fields (100)
    status, headers, body = _split(_raw(gunicorn_server, b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n"))
    assert status == 431 and headers["Content-Type"] == "application/json"
    assert body["success"] is False and body["code"] == "HEADERS_TOO_LARGE"
    status, _, body = _split(_raw(gunicorn_server, b"NOT A REQUEST\r\n\r\n"))
    assert status == 400 and body["code"] == "BAD_REQUEST"
