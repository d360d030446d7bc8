"""Builds the OpenAPI 3.1 document from the routes declared with `ApiBlueprint`."""
from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .api import REGISTRY, openapi_path, path_params
from .auth import Access

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "success": {"type": "boolean"}, "error": {"type": "string"}, "message": {"type": "string"},
        "code": {"type": "string"}, "error_code": {"type": "string"}, "details": {},
    },
    "required": ["error", "message", "code"],
}


REF = "#/components/schemas/{model}"


def _response_models(response: Any) -> list[type[BaseModel]]:
    if response is None or isinstance(response, dict):
        return []
    if isinstance(response, type) and issubclass(response, BaseModel):
        return [response]
    return [arg for arg in typing.get_args(response) if isinstance(arg, type) and issubclass(arg, BaseModel)]


def _components() -> tuple[dict[tuple[type[BaseModel], str], dict], dict[str, Any]]:
    """Every request and response model in one pass: pydantic names them once for the whole
    document, qualifying a name two domains share (`ExportIn`) instead of keeping either."""
    wanted: dict[tuple[type[BaseModel], str], None] = {}
    for op in REGISTRY:
        for model in (op.body, op.query):
            if model is not None:
                wanted[(model, "validation")] = None
        for model in _response_models(op.response):
            wanted[(model, "serialization")] = None
    refs, defs = models_json_schema(list(wanted), ref_template=REF)
    return refs, defs.get("$defs", {})


def _response_schema(response: Any, refs: dict) -> dict:
    """A model is a component; `list[Model]` an array of it; a dict is a JSON schema already
    (the free-form fallback)."""
    if isinstance(response, dict):
        return response
    if isinstance(response, type) and issubclass(response, BaseModel):
        return refs[(response, "serialization")]
    assert typing.get_origin(response) is list, f"unsupported response type {response!r}"
    return {"type": "array", "items": refs[(_response_models(response)[0], "serialization")]}


# Text cannot hold NUL (PostgreSQL refuses it; `infra.api.parse_model` answers 400): every
# free-text field of a request says so.
NO_NUL = "^[^\\u0000]*$"


def _refuse_nul(schema: Any, components: dict[str, Any], seen: set[str]) -> None:
    if isinstance(schema, list):
        for item in schema:
            _refuse_nul(item, components, seen)
        return
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[1]
        if name not in seen:
            seen.add(name)
            _refuse_nul(components.get(name), components, seen)
        return
    if schema.get("type") == "string" and not ({"pattern", "format", "enum", "const"} & set(schema)):
        schema["pattern"] = NO_NUL
    for key in ("properties", "$defs"):
        for sub in (schema.get(key) or {}).values():
            _refuse_nul(sub, components, seen)
    for key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf"):
        if key in schema:
            _refuse_nul(schema[key], components, seen)


def _body_required(model: type[BaseModel]) -> bool:
    return any(field.is_required() for field in model.model_fields.values())


def _security(access: Access) -> list[dict]:
    if access.public:
        return []
    if access.jwt_only:
        return [{"bearerAuth": []}]
    if access.allow_lead:
        return [{"bearerAuth": []}, {"apiKey": [], "apiSecret": []}, {"leadToken": []}]
    return [{"bearerAuth": []}, {"apiKey": [], "apiSecret": []}]


def build_spec(base_url: str = "") -> dict:
    refs, defs = _components()
    components: dict[str, Any] = {"Error": ERROR_SCHEMA, **defs}
    paths: dict[str, dict] = {}
    request_seen: set[str] = set()
    for op in REGISTRY:
        path = "/api/v1" + openapi_path(op.rule)
        entry: dict[str, Any] = {
            "summary": op.summary,
            "operationId": f"{op.blueprint}_{op.view}_{op.method.lower()}",
            "tags": op.tags,
            "security": _security(op.auth),
            "x-access": op.auth.name,
        }
        params = path_params(op.rule)
        if op.query is not None:
            props = _resolve(refs[(op.query, "validation")], components).get("properties", {})
            for name, field in op.query.model_fields.items():
                schema = {k: v for k, v in props.get(field.alias or name, {}).items() if k != "title"}
                _refuse_nul(schema, components, request_seen)
                params.append({"name": field.alias or name, "in": "query", "required": field.is_required(),
                               "schema": schema, "description": field.description or ""})
        if params:
            entry["parameters"] = params
        if op.body is not None:
            ref = refs[(op.body, "validation")]
            _refuse_nul(ref, components, request_seen)
            content = {"application/json": {"schema": ref}}
            if op.multipart:
                content["multipart/form-data"] = {"schema": ref}
            entry["requestBody"] = {"required": _body_required(op.body), "content": content}
        ok: dict[str, Any] = {"description": "Success"}
        if op.media_type != "application/json":
            ok["content"] = {op.media_type: {"schema": {"type": "string"}}}
        else:
            ok["content"] = {"application/json": {"schema": _response_schema(op.response, refs)
                                                  if op.response is not None else {}}}
        for media in op.also_media:
            ok["content"][media] = {"schema": {"type": "string"}}
        responses: dict[str, Any] = {str(code): ok for code in (op.status, *op.also)}
        error = {"description": "Error",
                 "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        # Every status the edge itself may answer: bad input and unknown ids, missing or
        # insufficient credentials, a body in another content type or too large, rate limits,
        # a dependency (database, Redis) being down.
        # Public routes answer 401 too when the credentials they take are wrong (login, refresh);
        # writes may conflict with what exists (409); login may find the account locked (423).
        codes = ("400", "401", "404", "429", "503") + (() if op.auth.public else ("403",))
        if op.method != "GET":
            codes += ("409", "423") if op.view == "login" else ("409",)
        if op.body is not None:
            codes += ("413", "415")
        codes += tuple(str(code) for code in op.errors)
        for code in codes:
            responses.setdefault(code, error)  # a declared success body wins (health answers 503 with its report)
        entry["responses"] = responses
        paths.setdefault(path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "Knowrithm API", "version": "1.0.0",
                 "description": "Multi-tenant AI agent platform. Every route is also served under /v1. "
                                "Text never holds NUL (U+0000): a request carrying one answers 400."},
        "servers": [{"url": base_url or "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "apiSecret": {"type": "apiKey", "in": "header", "name": "X-API-Secret"},
                "leadToken": {"type": "http", "scheme": "bearer", "description": "Lead access token"},
            },
        },
    }


def _resolve(schema: dict, components: dict[str, Any]) -> dict:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    return schema
