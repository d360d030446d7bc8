"""The conventions of docs/api-compatibility.md: prefixes, error envelope, CORS, request ids, OpenAPI."""


def assert_envelope(resp, status, code=None):
    assert resp.status_code == status
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert body["success"] is False and body["error"] == body["message"]
    assert body["code"] == body["error_code"]
    if code:
        assert body["code"] == code
    return body


def test_unknown_route_and_method(http):
    assert_envelope(http.get("/api/v1/no-such-thing"), 404, "NOT_FOUND")
    assert_envelope(http.get("/v1/no-such-thing"), 404, "NOT_FOUND")
    assert_envelope(http.delete("/api/v1/health"), 405, "METHOD_NOT_ALLOWED")


def test_malformed_json_is_a_400(http):
    resp = http.post("/api/v1/auth/login", data="{not json", headers={"Content-Type": "application/json"})
    assert_envelope(resp, 400, "MALFORMED_JSON")


def test_validation_errors_name_the_fields(http):
    body = assert_envelope(http.post("/api/v1/auth/login", json={"email": "x"}), 400, "VALIDATION_ERROR")
    assert "password" in body["details"] and "email" in body["details"]


def test_empty_body_is_tolerated(http):
    # Py sends no body and no Content-Type for empty payloads: this must not be a 415.
    body = assert_envelope(http.post("/api/v1/auth/login"), 400, "VALIDATION_ERROR")
    assert "email" in body["details"]


def test_body_over_max_file_size_is_a_413(http, settings):
    big = b"x" * (settings.MAX_FILE_SIZE + 2 * 1024 * 1024)
    resp = http.post("/api/v1/auth/login", data=big, headers={"Content-Type": "application/octet-stream"})
    assert_envelope(resp, 413, "PAYLOAD_TOO_LARGE")


def test_missing_credentials_is_a_401(http):
    assert_envelope(http.post("/api/v1/system/task-check"), 401, "UNAUTHORIZED")
    assert_envelope(http.post("/api/v1/system/task-check", headers={"Authorization": "Bearer junk"}), 401)


def test_cors_preflight_echoes_origin(http):
    resp = http.options("/api/v1/conversation/abc/chat", headers={
        "Origin": "https://customer.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,authorization"})
    assert resp.status_code == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "https://customer.example"
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]


def test_request_id_is_echoed_or_made(http):
    assert http.get("/api/health", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    assert len(http.get("/api/health").headers["X-Request-ID"]) == 32


def test_openapi_and_docs(http):
    spec = http.get("/api/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/health" in spec["paths"]
    assert "/api/v1/tasks/{task_id}/status" in spec["paths"]
    login = spec["paths"]["/api/v1/auth/login"]["post"]
    ref = login["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "email" in spec["components"]["schemas"][ref]["properties"]
    docs = http.get("/api/docs")
    assert docs.status_code == 200 and "SwaggerUIBundle" in docs.text
    assert http.get("/api/docs/static/swagger-ui-bundle.js").status_code == 200


def test_nul_characters_are_a_400_not_a_500(http):
    body = assert_envelope(http.post("/api/v1/auth/login", json={"email": "a\x00@x.test", "password": "x"}), 400)
    assert body["code"] == "VALIDATION_ERROR"


def test_a_value_the_database_refuses_is_a_400():
    """A DataError (too long, out of range) raised by the database is the client's input, never a 500."""
    from flask import Flask
    from sqlalchemy.exc import DataError

    from knowrithm.infra.errors import register_error_handlers

    probe = Flask("probe")
    register_error_handlers(probe)

    @probe.get("/probe")
    def data_error():
        raise DataError("INSERT ...", {}, Exception("value too long for type character varying(20)"))

    resp = probe.test_client().get("/probe")
    assert resp.status_code == 400 and resp.get_json()["code"] == "INVALID_VALUE"
    assert "too long" in resp.get_json()["details"]["database"][0]
