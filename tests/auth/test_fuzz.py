"""Property-based fuzzing of the identity routes, driven by the served OpenAPI document.

For every auth/users/API-usage operation in `/api/openapi.json`, hypothesis builds
requests whose body fields follow the schema's property names with values that are
sometimes right and often wrong (other types, huge or odd strings, NUL bytes), plus
good, stale and forged credentials. Whatever arrives, the answer must not be a 5xx and
every error must be the JSON envelope.
"""
from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from tests.conftest import make_api_key

FUZZED = re.compile(r"^/api/v1/(auth/|send$|verify$|user/profile$|user/\{user_id\}$|overview$|usage-trends$|top-endpoints$|"
                    r"api-key-performance$|error-analysis$|rate-limit-analysis$|detailed-usage/)")

odd_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=200, max_size=400),
    st.sampled_from(["", " ", "\x00", "a@b.c", "UPPER@CASE.TEST", "' OR 1=1 --", "../../etc/passwd",
                     "00000000-0000-0000-0000-000000000000", "ak_x", "as_x", "null", "🙂" * 30]),
)
junk = st.one_of(odd_text, st.integers(min_value=-2**63, max_value=2**63), st.floats(allow_nan=False, allow_infinity=False),
                 st.booleans(), st.none(), st.lists(odd_text, max_size=3),
                 st.dictionaries(odd_text, odd_text, max_size=3))


def _resolve(spec, schema):
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _operations(spec):
    ops = []
    for path, item in spec["paths"].items():
        if not FUZZED.match(path):
            continue
        for method, op in item.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            props = sorted(_resolve(spec, body).get("properties", {})) if body else []
            query = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
            ops.append((method.upper(), path, props, query))
    return sorted(ops)


@pytest.fixture
def fuzz_setup(http, app, companies, settings, monkeypatch):
    # Limits would turn most of the run into 429s and hide the code behind them.
    monkeypatch.setattr(settings, "RATELIMIT_ENABLED", False)
    spec = http.get("/api/openapi.json").json()
    key, secret = make_api_key(app, companies[0], ("read", "write", "admin"))

    def fresh_tokens():  # a fuzzed logout revokes its session; the next example gets a new one
        from knowrithm.domains.auth import tokens
        from knowrithm.domains.auth.models import User
        from knowrithm.infra.db import db

        with app.test_request_context():
            pair = tokens.issue_pair(db.session.get(User, companies[0].admin_id))
            db.session.remove()
        return pair

    good_key = {"X-API-Key": key, "X-API-Secret": secret}
    # Valid credentials weigh most: the code worth fuzzing sits behind authentication.
    def bearer():
        return {"Authorization": f"Bearer {fresh_tokens()['access_token']}"}

    credentials = [
        lambda: good_key, bearer, lambda: good_key, bearer, lambda: good_key, bearer,
        lambda: {}, lambda: {"Authorization": f"Bearer {fresh_tokens()['refresh_token']}"},
        lambda: {"Authorization": "Bearer junk.junk.junk"},
        lambda: {"X-API-Key": key, "X-API-Secret": "as_wrong"},
        lambda: {"X-API-Key": "ak_" + "f" * 48, "X-API-Secret": secret},
    ]
    return _operations(spec), credentials, str(companies[0].admin_id)


def test_spec_lists_the_identity_routes(fuzz_setup):
    ops, _, _ = fuzz_setup
    paths = {(m, p) for m, p, _, _ in ops}
    assert {("POST", "/api/v1/auth/register"), ("POST", "/api/v1/auth/login"), ("GET", "/api/v1/auth/validate"),
            ("PUT", "/api/v1/user/profile"), ("GET", "/api/v1/detailed-usage/{api_key_id}")} <= paths


@hsettings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_identity_routes_never_answer_5xx(fuzz_setup, http, data):
    ops, credentials, user_id = fuzz_setup
    method, path, props, query = data.draw(st.sampled_from(ops), label="operation")
    url = re.sub(r"\{[^}]+\}", lambda _: data.draw(st.one_of(st.just(user_id), st.uuids().map(str),
                                                                odd_text.filter(lambda s: s and "/" not in s
                                                                                and "?" not in s and "#" not in s)),
                                                      label="path"), path)
    body = data.draw(st.one_of(
        st.fixed_dictionaries({}, optional={p: junk for p in props}),
        junk,
    ), label="body") if method != "GET" else None
    params = data.draw(st.fixed_dictionaries({}, optional={q: st.one_of(odd_text, st.integers().map(str))
                                                           for q in query}), label="query")
    headers = data.draw(st.sampled_from(credentials), label="credentials")()
    resp = http.request(method, url, json=body, params=params, headers=headers)
    assert resp.status_code < 500, (method, url, body, resp.text[:500])
    assert resp.headers["Content-Type"].startswith("application/json")
    if resp.status_code >= 400:
        envelope = resp.json()
        assert envelope["success"] is False and envelope["error"] == envelope["message"]
