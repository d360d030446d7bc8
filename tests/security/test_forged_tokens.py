"""Forged and dead credentials get 401 in the error envelope and change nothing."""
from __future__ import annotations

import base64
import json
import time

import jwt

from tests.admin.helpers import admin_headers, login
from tests.infra.test_conventions import assert_envelope


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(http, companies) -> dict:
    token = login(http, companies[0].admin_email, companies[0].password)
    return jwt.decode(token, options={"verify_signature": False})


def test_forged_and_dead_jwts_are_401(http, companies, settings):
    claims = _claims(http, companies)
    claims_admin = {**claims, "role": "super_admin", "jti": "forged"}
    forged = {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims_admin)}.",
        "wrong key": jwt.encode(claims_admin, "not-the-server-key-0123456789abcdef0123", algorithm="HS256"),
        "expired": jwt.encode({**claims, "iat": 1, "nbf": 1, "exp": int(time.time()) - 10},
                              settings.JWT_SECRET_KEY, algorithm="HS256"),
        "refresh as access": jwt.encode({**claims, "type": "refresh"}, settings.JWT_SECRET_KEY, algorithm="HS256"),
        "lead token for a user": jwt.encode({**claims, "type": "lead", "role": "lead", "sid": "x"},
                                            "wrong-key-0123456789abcdef0123456789ab", algorithm="HS256"),
    }
    for name, token in forged.items():
        resp = http.get("/api/v1/admin/user", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401, (name, resp.text)
        assert_envelope(resp, 401)


def test_a_logged_out_session_is_401(http, companies):
    headers = admin_headers(http, companies[0])
    assert http.get("/api/v1/auth/user/me", headers=headers).status_code == 200
    assert http.post("/api/v1/auth/logout", headers=headers, json={}).status_code == 200
    assert_envelope(http.get("/api/v1/auth/user/me", headers=headers), 401, "TOKEN_REVOKED")
