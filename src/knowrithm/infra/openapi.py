"""Builds the OpenAPI 3.1 document from the routes declared with `ApiBlueprint`."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

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


def _schema_ref(model: type[BaseModel], components: dict[str, Any], mode: str) -> dict:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
    for name, sub in schema.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components.setdefault(model.__name__, schema)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _security(access: Access) -> list[dict]:
    if access.public:
        return []
    if access.jwt_only:
        return [{"bearerAuth": []}]
    if access.allow_lead:
        return [{"bearerAuth": []}, {"apiKey": [], "apiSecret": []}, {"leadToken": []}]
    return [{"bearerAuth": []}, {"apiKey": [], "apiSecret": []}]


def build_spec(base_url: str = "") -> dict:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, dict] = {}
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
            for name, field in op.query.model_fields.items():
                schema = _schema_ref(op.query, components, "validation")  # registers nested types
                del schema
                params.append({"name": field.alias or name, "in": "query", "required": field.is_required(),
                               "schema": _field_schema(op.query, name), "description": field.description or ""})
        if params:
            entry["parameters"] = params
        if op.body is not None:
            ref = _schema_ref(op.body, components, "validation")
            content = {"application/json": {"schema": ref}}
            if op.multipart:
                content["multipart/form-data"] = {"schema": ref}
            entry["requestBody"] = {"required": False, "content": content}
        ok: dict[str, Any] = {"description": "Success"}
        if op.response is not None:
            ok["content"] = {"application/json": {"schema": _schema_ref(op.response, components, "serialization")}}
        else:
            ok["content"] = {"application/json": {"schema": {}}}
        responses: dict[str, Any] = {str(op.status): ok}
        error = {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        for code in ("400", "404") + (() if op.auth.public else ("401", "403")):
            responses[code] = error
        entry["responses"] = responses
        paths.setdefault(path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "Knowrithm API", "version": "1.0.0",
                 "description": "Multi-tenant AI agent platform. Every route is also served under /v1."},
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


def _field_schema(model: type[BaseModel], name: str) -> dict:
    props = model.model_json_schema(mode="validation").get("properties", {})
    schema = dict(props.get(name, {}))
    schema.pop("title", None)
    return schema
