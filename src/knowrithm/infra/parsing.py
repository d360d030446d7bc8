"""Lenient request parsing (CONTRACT §1.3): empty bodies, booleans, list fields.

Clients send booleans as True/true/1, lists as repeated fields (Python), one JSON string
(TypeScript) or a comma list (docs). These helpers accept all of them.
"""
from __future__ import annotations

import json
import types
import typing
from typing import Any

from flask import request
from pydantic import BaseModel
from werkzeug.datastructures import MultiDict

from .errors import ValidationFailed

TRUE = {"true", "1", "yes", "on", "y", "t"}
FALSE = {"false", "0", "no", "off", "n", "f", ""}


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


def json_body() -> dict[str, Any]:
    """The JSON object body, `{}` when absent; 400 when present but malformed."""
    if not request.get_data(cache=True):
        return {}
    if request.mimetype and "json" not in request.mimetype and request.mimetype != "text/plain":
        return {}
    try:
        data = json.loads(request.get_data(cache=True))
    except ValueError as exc:
        raise ValidationFailed("Malformed JSON body", code="MALFORMED_JSON", details={"body": [str(exc)]})
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValidationFailed("JSON body must be an object", code="MALFORMED_JSON")
    return data


def validation_details(exc) -> dict[str, list[str]]:
    details: dict[str, list[str]] = {}
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ())) or "body"
        details.setdefault(loc, []).append(err.get("msg", "invalid"))
    return details
