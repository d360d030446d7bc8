"""The OpenAPI document states what the server answers: every operation declares its success body
(never an empty schema), its error statuses with the error envelope, a required body when the body
has required fields, and enums and formats on the objects; and real answers conform to it."""
from __future__ import annotations

import jsonschema
import pytest

from tests.conftest import make_api_key

SUCCESS = ("200", "201", "202", "207")


@pytest.fixture(scope="module")
def spec(app):
    from knowrithm.infra.openapi import build_spec

    with app.app_context():
        return build_spec("")


def _operations(spec):
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            yield f"{method.upper()} {path}", op


def _resolve(spec, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_operation_declares_a_success_body(spec):
    empty = []
    for name, op in _operations(spec):
        ok = [op["responses"][code] for code in SUCCESS if code in op["responses"]]
        assert ok, f"{name}: no success status"
        for response in ok:
            for media, content in response["content"].items():
                if not content.get("schema"):
                    empty.append(f"{name} ({media})")
    assert empty == []


def test_error_statuses_are_declared_with_the_envelope(spec):
    for name, op in _operations(spec):
        codes = op["responses"]
        for code in ("400", "401", "404", "429"):
            assert codes[code]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, name
        if op["security"]:
            assert "403" in codes, name
        if "requestBody" in op:
            assert {"413", "415"} <= set(codes), name
        if not name.startswith("GET"):
            assert "409" in codes, name


def test_bodies_with_required_fields_are_required(spec):
    login = spec["paths"]["/api/v1/auth/login"]["post"]["requestBody"]
    assert login["required"] is True
    refresh = spec["paths"]["/api/v1/auth/refresh"]["post"]["requestBody"]
    assert refresh["required"] is False  # the refresh token may come in the Authorization header


def test_every_schema_is_valid_json_schema(spec):
    for name, sub in spec["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(sub)
    for name, op in _operations(spec):
        for code, response in op["responses"].items():
            for content in response.get("content", {}).values():
                jsonschema.Draft202012Validator.check_schema(content["schema"])


def test_objects_declare_their_formats_and_enums(spec):
    schemas = spec["components"]["schemas"]
    user = schemas["UserOut"]["properties"]
    assert user["id"]["format"] == "uuid" and user["email"]["format"] == "email"
    assert {"format": "date-time", "type": "string"} in user["created_at"]["anyOf"]
    assert user["role"]["enum"] == ["user", "admin", "super_admin"]
    assert schemas["LeadOut"]["properties"]["status"]["enum"] == ["new", "contacted", "qualified", "converted", "lost"]
    assert schemas["TaskAccepted"]["properties"]["status"]["const"] == "accepted"
    assert set(schemas["TaskAccepted"]["required"]) >= {"task_id", "status_url"}
    pagination = schemas["Pagination"]
    assert set(pagination["required"]) == {"page", "per_page", "total", "pages", "has_next", "has_prev"}
    countries = spec["paths"]["/api/v1/country"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert countries["type"] == "array"
    export = spec["paths"]["/api/v1/analytic/export"]["post"]["responses"]["200"]["content"]
    assert set(export) == {"application/json", "text/csv"}
    assert "410" in spec["paths"]["/api/v1/exports/download/{token}"]["get"]["responses"]  # an expired link
    health = spec["paths"]["/api/v1/health"]["get"]["responses"]
    assert health["503"] == health["200"]  # the same report, unhealthy


def _conforms(spec, method: str, path: str, response) -> None:
    op = spec["paths"][path][method.lower()]
    declared = op["responses"].get(str(response.status_code))
    assert declared is not None, f"{method} {path}: undeclared status {response.status_code}: {response.text[:300]}"
    schema = declared["content"]["application/json"]["schema"]
    validator = jsonschema.Draft202012Validator(dict(schema, components=spec["components"]))
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
              for e in validator.iter_errors(response.json())]
    assert errors == [], f"{method} {path} ({response.status_code}): {errors[:5]}"


def test_real_answers_conform_to_the_declared_schemas(spec, app, http, companies, agent_ids):
    """Staff, key and visitor answers across the domains, validated against the document."""
    admin = companies[0]
    key, secret = make_api_key(app, admin)
    as_key = {"X-API-Key": key, "X-API-Secret": secret}
    login = http.post("/api/v1/auth/login", json={"email": admin.admin_email, "password": admin.password})
    _conforms(spec, "POST", "/api/v1/auth/login", login)
    as_jwt = {"Authorization": f"Bearer {login.json()['access_token']}"}
    agent_id = agent_ids[0]

    lead = http.post("/api/v1/lead/register", json={"agent_id": agent_id, "first_name": "Vera", "last_name": "Visitor",
                                                    "email": "vera@example.com"})
    _conforms(spec, "POST", "/api/v1/lead/register", lead)
    as_lead = {"Authorization": f"Bearer {lead.json()['access_token']}"}
    conv = http.post("/api/v1/conversation", json={"agent_id": agent_id}, headers=as_lead)
    _conforms(spec, "POST", "/api/v1/conversation", conv)
    conv_id = conv.json()["id"]
    lead_id = lead.json()["lead"]["id"]

    calls = [
        ("GET", "/api/v1/auth/user/me", {}, as_jwt), ("GET", "/api/v1/auth/validate", {}, as_key),
        ("GET", "/api/v1/auth/validate", {}, as_jwt), ("GET", "/api/v1/auth/api-keys", {}, as_jwt),
        ("GET", "/api/v1/auth/super-admin", {}, {}), ("GET", "/api/v1/user/profile", {}, as_key),
        ("GET", f"/api/v1/agent/{agent_id}", {"agent_id": agent_id}, {}),
        ("GET", f"/api/v1/agent/{agent_id}", {"agent_id": agent_id}, as_key),
        ("GET", "/api/v1/agent", {}, as_key), ("GET", f"/api/v1/agent/{agent_id}/stats", {}, as_key),
        ("GET", "/api/v1/conversation/entity", {}, as_lead), ("GET", "/api/v1/conversation", {}, as_key),
        ("GET", f"/api/v1/conversation/{conv_id}/messages", {}, as_lead),
        ("GET", f"/api/v1/conversation/{conv_id}/messages", {}, as_key),
        ("GET", "/api/v1/lead/company", {}, as_key), ("GET", f"/api/v1/lead/{lead_id}", {}, as_key),
        ("GET", "/api/v1/company", {}, as_key), ("GET", "/api/v1/company/statistics", {}, as_key),
        ("GET", "/api/v1/admin/user", {}, as_jwt), ("GET", "/api/v1/audit-log", {}, as_jwt),
        ("GET", "/api/v1/config", {}, as_jwt), ("GET", "/api/v1/admin/system-metric", {}, as_jwt),
        ("GET", "/api/v1/providers", {}, as_key), ("GET", "/api/v1/settings/providers", {}, as_key),
        ("GET", "/api/v1/document", {}, as_key), ("GET", "/api/v1/website/source", {}, as_key),
        ("GET", "/api/v1/database-connection", {}, as_key), ("GET", "/api/v1/message/deleted", {}, as_key),
        ("GET", "/api/v1/analytic/dashboard", {}, as_jwt), ("GET", "/api/v1/analytic/usage", {}, as_key),
        ("GET", "/api/v1/analytic/leads", {}, as_key), ("GET", "/api/v1/analytic/support", {}, as_key),
        ("GET", f"/api/v1/analytic/agent/{agent_id}", {}, as_key),
        ("GET", f"/api/v1/analytic/conversation/{conv_id}", {}, as_key),
        ("GET", "/api/v1/overview", {}, as_jwt), ("GET", "/api/v1/address-seed", {}, {}),
        ("GET", "/api/v1/country", {}, {}), ("GET", "/api/v1/health/live", {}, {}),
        ("GET", f"/api/v1/exports/leads/{lead_id}", {}, as_jwt),
        ("GET", f"/api/v1/company/{admin.company_id}/retention", {}, as_jwt),
    ]
    for method, url, _, headers in calls:
        response = http.request(method, url, headers=headers)
        assert response.status_code < 300, f"{method} {url}: {response.status_code} {response.text[:300]}"
        template = url
        for value, name in ((agent_id, "{agent_id}"), (conv_id, "{conversation_id}"), (lead_id, "{lead_id}"),
                            (str(admin.company_id), "{company_id}")):
            template = template.replace(value, name)
        _conforms(spec, method, template, response)
    country = http.get("/api/v1/country").json()[0]["id"]
    _conforms(spec, "GET", "/api/v1/country/{country_id}", http.get(f"/api/v1/country/{country}"))
