"""Lenient request parsing (docs/api-compatibility.md, "Lenient request parsing"): empty bodies, booleans, list fields.

Clients send booleans as True/true/1, lists as repeated fields (Python), one JSON string
(TypeScript) or a comma list (docs). These helpers accept all of them.
"""
from __future__ import annotations

import json
import types
import uuid
import typing
from typing import Annotated, Any

from flask import request
from pydantic import BaseModel, Field
from werkzeug.datastructures import MultiDict

from .errors import NotFound, UnsupportedMediaType, ValidationFailed

# Text fields the services parse themselves (`parse_uuid`, the address check), typed for the
# OpenAPI document only: a generated client or a fuzzer sends what the server accepts.
UuidText = Annotated[str, Field(json_schema_extra={"format": "uuid"})]
EmailText = Annotated[str, Field(json_schema_extra={"format": "email"})]

TRUE = {"true", "1", "yes", "on", "y", "t"}
FALSE = {"false", "0", "no", "off", "n", "f", ""}


def parse_uuid(value: Any, field: str | None = None, *, not_found: str | None = None) -> uuid.UUID | None:
    """`value` as a UUID. When it is not one: a 400 naming `field` if given, else a 404 with
    the `not_found` message if given (a malformed id names no row), else None."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        if field is not None:
            raise ValidationFailed(f"Invalid {field}", details={field: ["must be a UUID"]}) from None
        if not_found is not None:
            raise NotFound(not_found) from None
        return None


def single_spaced(value: str | None) -> str | None:
    """A pydantic validator for names: runs of whitespace become one space; blank is an error."""
    if value is None:
        return value
    value = " ".join(value.split())
    if not value:
        raise ValueError("must not be blank")
    return value


def parse_bool(value: Any, default: bool | None = None) -> bool | None:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValidationFailed("Invalid boolean value", details={"value": [f"{value!r} is not a boolean"]})


def split_list(values: list[str]) -> list[Any]:
    """Repeated fields, a JSON-encoded array, or a comma-separated string -> one list."""
    out: list[Any] = []
    for raw in values:
        text = raw.strip() if isinstance(raw, str) else raw
        if isinstance(text, str) and text.startswith("["):
            try:
                parsed = json.loads(text)
                if isinstance(parsed, list):
                    out.extend(parsed)
                    continue
            except ValueError:
                pass
        if isinstance(text, str) and "," in text:
            out.extend(part.strip() for part in text.split(",") if part.strip())
        elif text not in (None, ""):
            out.append(text)
    return out


def _is_list(annotation) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, set, tuple):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_list(arg) for arg in typing.get_args(annotation))
    return False


def _is_dict(annotation) -> bool:
    origin = typing.get_origin(annotation)
    if origin is dict or annotation is dict:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_dict(arg) for arg in typing.get_args(annotation))
    return False


def multidict_to_dict(data: MultiDict, model: type[BaseModel] | None) -> dict[str, Any]:
    """Flatten query/form fields; list fields of `model` collect every variant."""
    out: dict[str, Any] = {}
    fields = model.model_fields if model else {}
    keys = {k[:-2] if k.endswith("[]") else k for k in data.keys()}
    for key in keys:
        field = fields.get(key)
        if field is not None and _is_list(field.annotation):
            out[key] = split_list(data.getlist(key) + data.getlist(key + "[]"))
        elif field is not None and _is_dict(field.annotation):
            raw = data.get(key)
            try:
                out[key] = json.loads(raw) if isinstance(raw, str) and raw.strip().startswith("{") else raw
            except ValueError:
                out[key] = raw
        else:
            values = data.getlist(key) or data.getlist(key + "[]")
            out[key] = values[0] if len(values) == 1 else values
    return out


MAX_JSON_DEPTH = 64  # far beyond any real body; deep nesting only exhausts the parser's stack


def json_body() -> dict[str, Any]:
    """The JSON object body, `{}` when absent; 400 when malformed, `null`, not an object or
    nested too deeply; 415 when a body comes with a content type that is not JSON (it would
    otherwise be dropped silently and the call would "succeed" having changed nothing)."""
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    if request.mimetype and "json" not in request.mimetype and request.mimetype != "text/plain":
        raise UnsupportedMediaType(f"Send this body as application/json (got {request.mimetype[:100]})",
                                   details={"content_type": ["expected application/json"]})
    try:
        data = json.loads(raw)
    except RecursionError:
        data = None
        too_deep = True
    except ValueError as exc:
        raise ValidationFailed("Malformed JSON body", code="MALFORMED_JSON", details={"body": [str(exc)[:200]]})
    else:
        too_deep = _too_deep(data)
    if too_deep:
        raise ValidationFailed("JSON body is nested too deeply", code="MALFORMED_JSON",
                               details={"body": [f"nesting deeper than {MAX_JSON_DEPTH} levels"]})
    if not isinstance(data, dict):
        raise ValidationFailed("JSON body must be an object", code="MALFORMED_JSON",
                               details={"body": ["expected a JSON object"]})
    return data


def _too_deep(data: Any) -> bool:
    """Container depth of a parsed body, walked with a stack (no recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def validation_details(exc) -> dict[str, list[str]]:
    details: dict[str, list[str]] = {}
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ())) or "body"
        details.setdefault(loc, []).append(err.get("msg", "invalid"))
    return details
