"""Opt-in pytest plugin: every JSON answer a test receives from a declared route is validated
against `/api/openapi.json` (its status must be declared, its body must fit the schema), so the
whole suite checks the spec against real answers, not only the schemathesis sweep:

    nice -n 15 .venv/bin/python -m pytest -p tests.security.spec_conformance tests/agents tests/leads

Violations are listed at the end and fail the run."""
from __future__ import annotations

import json

import jsonschema

_violations: list[str] = []
_spec: dict = {}


def pytest_configure(config):
    import knowrithm.infra.api as api
    from flask import request

    answer = api._to_response

    def checked(result, default_status):
        response = answer(result, default_status)
        _check(api, request, response)
        return response

    api._to_response = checked


def _check(api, request, response) -> None:
    if not _spec:
        from knowrithm.infra.openapi import build_spec

        _spec.update(build_spec(""))
    path = api.openapi_path(request.url_rule.rule)
    path = path if path.startswith("/api/") else "/api" + path  # the /v1 alias
    op = _spec["paths"].get(path, {}).get(request.method.lower())
    if op is None or response.mimetype != "application/json":
        return
    declared = op["responses"].get(str(response.status_code))
    name = f"{request.method} {path} -> {response.status_code}"
    if declared is None:
        _violations.append(f"{name}: status not declared")
        return
    schema = declared["content"]["application/json"]["schema"]
    validator = jsonschema.Draft202012Validator(dict(schema, components=_spec["components"]))
    for error in list(validator.iter_errors(json.loads(response.get_data())))[:3]:
        _violations.append(f"{name}: {'/'.join(map(str, error.absolute_path))}: {error.message[:200]}")


def pytest_sessionfinish(session, exitstatus):
    if _violations:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        unique = sorted(set(_violations))
        if reporter is not None:
            reporter.write_sep("=", f"{len(unique)} answers do not conform to the OpenAPI document")
            for line in unique:
                reporter.write_line(line)
        session.exitstatus = 1
