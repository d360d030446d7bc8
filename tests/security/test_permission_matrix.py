"""Every operation of the OpenAPI spec, called by every principal weaker than its minimal one,
is refused (401/403/404, in the error envelope) and changes nothing. The model is the table in
`permission_matrix.py`; an operation without a row fails here."""
from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import text

from tests.admin.helpers import PLAIN_PASSWORD, admin_headers, bearer, login, make_user
from tests.conftest import make_api_key
from tests.security.permission_matrix import (ADMIN_WRITE, DECLARED, LEAD_WRITE, MATRIX, PUBLIC, REFUSED,
                                              WRITE)
from tests.widget.helpers import make_agent

# Append-only records a refused call may add (logs of the attempt itself), not data.
LOG_TABLES = re.compile(r"audit|request_log|usage|task_record|rollup|metric")


@pytest.fixture
def spec(http):
    return http.get("/api/openapi.json").json()


def _operations(spec) -> list[tuple[str, str, dict]]:
    return [(method.upper(), path, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def test_every_operation_has_a_row_and_the_row_matches_the_code(spec):
    ops = _operations(spec)
    missing = [(m, p) for m, p, _ in ops if (m, p) not in MATRIX]
    assert missing == [], f"operations without a row in tests/security/permission_matrix.py: {missing}"
    stale = sorted(set(MATRIX) - {(m, p) for m, p, _ in ops})
    assert stale == [], f"rows for operations the spec no longer has: {stale}"
    disagree = [(m, p, op["x-access"], MATRIX[(m, p)]) for m, p, op in ops
                if DECLARED.get(op["x-access"]) != MATRIX[(m, p)]]
    assert disagree == [], f"declared access differs from the matrix: {disagree}"


@pytest.fixture
def principals(app, companies, http):
    tenant = companies[0]
    make_user(app, tenant, email="plain@acme.test")
    user_jwt = bearer(login(http, "plain@acme.test", PLAIN_PASSWORD))
    created = http.post("/api/v1/auth/api-keys", headers=user_jwt,
                        json={"name": "everything a user can get", "scopes": ["read", "write", "update", "delete"]})
    assert created.status_code == 201, created.text
    read_key, read_secret = make_api_key(app, tenant, scopes=("read",))
    admin_key, admin_secret = make_api_key(app, tenant, scopes=("full_access",))
    update_key, update_secret = make_api_key(app, tenant, scopes=("update",))
    delete_key, delete_secret = make_api_key(app, tenant, scopes=("delete",))
    agent_id = make_agent(app, tenant)
    lead = http.post("/api/v1/lead/register", json={"agent_id": str(agent_id), "first_name": "M", "last_name": "X",
                                                    "email": "matrix@visitors.io"}).json()
    return {
        "anon": {},
        "lead": bearer(lead["access_token"]),
        "read_key": {"X-API-Key": read_key, "X-API-Secret": read_secret},
        "user_jwt": user_jwt,
        "user_key": {"X-API-Key": created.json()["api_key"], "X-API-Secret": created.json()["api_secret"]},
        "admin_jwt": admin_headers(http, tenant),
        "admin_key": {"X-API-Key": admin_key, "X-API-Secret": admin_secret},
        "update_key": {"X-API-Key": update_key, "X-API-Secret": update_secret},
        "delete_key": {"X-API-Key": delete_key, "X-API-Secret": delete_secret},
    }


def narrow_keys_refused(level: str, method: str, access: str) -> list[str]:
    """An admin's key with only `update` may PUT/PATCH and one with only `delete` may DELETE,
    where a `write` key may; they are refused everything else (except `any_credential` routes,
    such as `/auth/validate`, which any valid key may call)."""
    if access == "any_credential":
        return []
    writable = level in (WRITE, LEAD_WRITE, ADMIN_WRITE)
    refused = []
    if level != PUBLIC and not (writable and method in ("PUT", "PATCH")):
        refused.append("update_key")
    if level != PUBLIC and not (writable and method == "DELETE"):
        refused.append("delete_key")
    return refused


def _counts(app) -> dict[str, int]:
    from knowrithm.infra.db import db

    with app.app_context():
        names = [t.name for t in db.metadata.sorted_tables if not LOG_TABLES.search(t.name)]
        counts = {n: db.session.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in names}
        digest = db.session.execute(text("SELECT md5(string_agg(md5(t::text), '' ORDER BY t.id::text)) FROM "
                                         "(SELECT id, name, country_id FROM states) t")).scalar_one()
        db.session.remove()
    return {**counts, "states_digest": digest}


def _concrete(path: str, op: dict) -> str:
    types = {p["name"]: p.get("schema", {}).get("type") for p in op.get("parameters", []) if p.get("in") == "path"}
    return re.sub(r"\{(\w+)\}", lambda m: "999999" if types.get(m.group(1)) == "integer" else str(uuid.uuid4()),
                  path)


def test_weaker_principals_are_refused_everywhere_and_change_nothing(app, http, spec, principals):
    before = _counts(app)
    failures, calls = [], 0
    for method, path, op in _operations(spec):
        level = MATRIX[(method, path)]
        for who in [*REFUSED[level], *narrow_keys_refused(level, method, op["x-access"])]:
            url = _concrete(path, op)
            body = {} if method in ("POST", "PUT", "PATCH", "DELETE") else None
            resp = http.request(method, url, json=body, headers=principals[who], timeout=30)
            calls += 1
            ok = resp.status_code in (401, 403, 404) and resp.headers.get("Content-Type", "").startswith(
                "application/json") and resp.json().get("success") is False
            if not ok:
                failures.append((method, path, who, resp.status_code, resp.text[:120]))
    assert failures == [], f"{len(failures)} of {calls} refusals failed: {failures}"
    assert calls > 500  # the matrix really ran (every non-public operation, several principals each)
    assert _counts(app) == before
