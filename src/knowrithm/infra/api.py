"""Route declaration: one decorator applies auth, parses input with pydantic and records
the operation for the OpenAPI document.

    bp = ApiBlueprint("agents", __name__)

    @bp.post("/agent", body=AgentCreate, auth=WRITE, status=202, summary="Create an agent")
    def create_agent(body: AgentCreate): ...

A rule may be a list: the first is the canonical path, the others are aliases some client
calls (`["/website/source/<source_id>", "/sdk/website/source/<source_id>"]`), served by the
same view and listed in the OpenAPI document (docs/api-compatibility.md).

Views receive `body=` and/or `query=` (validated models) and return a dict, a list, a
`(payload, status)` pair or a Response. Every blueprint is mounted under `/api/v1`; the
`/v1` alias and the utility prefixes are rewritten in `infra.http`.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ValidationError

from .auth import PUBLIC, Access, require
from .errors import ValidationFailed
from .parsing import json_body, multidict_to_dict, validation_details


@dataclass
class Operation:
    method: str
    rule: str
    blueprint: str
    summary: str
    auth: Access
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: Any = None  # a pydantic model, a type expression (`list[X]`) or a JSON schema dict
    status: int = 200
    also: tuple[int, ...] = ()  # other success statuses with the same body (207 when some items fail)
    errors: tuple[int, ...] = ()  # error statuses of this route beyond the ones every route may answer
    multipart: bool = False
    tags: list[str] = field(default_factory=list)
    view: str = ""
    media_type: str = "application/json"  # of the success response
    also_media: tuple[str, ...] = ()  # other media types the success response may take (a CSV export)


REGISTRY: list[Operation] = []

# Records data access (`audit=` on a route) and every call made while impersonating; the audit
# domain installs it (infra knows no business nouns). Called after the view succeeded.
AccessAuditor = Callable[[str | None, Any, dict], None]
_access_auditor: AccessAuditor | None = None


def set_access_auditor(auditor: AccessAuditor) -> None:
    global _access_auditor
    _access_auditor = auditor


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v) for v in value)
    return False


def parse_model(model: type[BaseModel], data: Any, where: str) -> BaseModel:
    # PostgreSQL text cannot hold NUL: refuse it here rather than fail at INSERT time.
    if _has_nul(data):
        raise ValidationFailed(f"Invalid {where}", details={where: ["NUL characters are not allowed"]})
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(f"Invalid {where}", details=validation_details(exc)) from None


def request_data(model: type[BaseModel] | None) -> dict[str, Any]:
    """The request body as a dict, from JSON or multipart/form fields."""
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return multidict_to_dict(request.form, model)
    return json_body()


class ApiBlueprint(Blueprint):
    def __init__(self, name: str, import_name: str, *, tag: str | None = None, **kw):
        super().__init__(name, import_name, **kw)
        self.tag = tag or name

    def operation(self, rule: str | Sequence[str], method: str, *, auth: Access = PUBLIC, body=None, query=None,
                  response=None, status: int = 200, also: tuple[int, ...] = (), errors: tuple[int, ...] = (),
                  summary: str | None = None, multipart: bool = False,
                  widget: bool = False, audit: str | None = None, media_type: str = "application/json",
                  also_media: tuple[str, ...] = (), **options) -> Callable:
        """`response=` declares the success body (a pydantic model, `list[Model]` or a JSON schema
        dict) for the OpenAPI document; the view's answer is not filtered through it.
        `widget=True` marks a route the embeddable widget calls from customers' sites: it
        answers any browser origin (infra.edge). `audit="document.deleted"` records each
        successful call by staff as a data-access audit event."""
        rules = [rule] if isinstance(rule, str) else list(rule)

        def decorator(view: Callable) -> Callable:
            @functools.wraps(view)
            def wrapper(**path_args):
                principal = require(auth)
                kwargs: dict[str, Any] = dict(path_args)
                if query is not None:
                    kwargs["query"] = parse_model(query, multidict_to_dict(request.args, query), "query parameters")
                if body is not None:
                    kwargs["body"] = parse_model(body, request_data(body), "request body")
                result = view(**kwargs)
                if _access_auditor is not None and principal is not None and (audit or principal.impersonator_id):
                    _access_auditor(audit, principal, {"method": request.method, "path": request.path,
                                                       **{k: str(v) for k, v in path_args.items()}})
                return _to_response(result, status)

            wrapper.widget_route = widget  # type: ignore[attr-defined]
            endpoint = options.pop("endpoint", f"{view.__name__}_{method.lower()}")
            for number, path in enumerate(rules):
                name = view.__name__ if number == 0 else f"{view.__name__}_alias{number}"
                REGISTRY.append(Operation(method=method, rule=path, blueprint=self.name,
                                          summary=summary or (view.__doc__ or view.__name__).strip().split("\n")[0],
                                          auth=auth, body=body, query=query, response=response, status=status,
                                          also=also, errors=errors,
                                          multipart=multipart, tags=[self.tag], view=name, media_type=media_type,
                                          also_media=also_media))
                self.add_url_rule(path, endpoint=endpoint if number == 0 else f"{endpoint}_alias{number}",
                                  view_func=wrapper, methods=[method], **options)
            return wrapper

        return decorator

    def get(self, rule: str | Sequence[str], **kw):  # type: ignore[override]
        return self.operation(rule, "GET", **kw)

    def post(self, rule: str | Sequence[str], **kw):  # type: ignore[override]
        return self.operation(rule, "POST", **kw)

    def put(self, rule: str | Sequence[str], **kw):  # type: ignore[override]
        return self.operation(rule, "PUT", **kw)

    def patch(self, rule: str | Sequence[str], **kw):  # type: ignore[override]
        return self.operation(rule, "PATCH", **kw)

    def delete(self, rule: str | Sequence[str], **kw):  # type: ignore[override]
        return self.operation(rule, "DELETE", **kw)


def _to_response(result: Any, default_status: int):
    if isinstance(result, Response):
        return result
    status = default_status
    headers = None
    if isinstance(result, tuple):
        if len(result) == 3:
            result, status, headers = result
        else:
            result, status = result
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json")
    resp = jsonify(result)
    resp.status_code = status
    if headers:
        resp.headers.update(headers)
    return resp


_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


def openapi_path(rule: str) -> str:
    return _CONVERTER.sub(lambda m: "{" + m.group(2) + "}", rule)


def path_params(rule: str) -> list[dict]:
    params = []
    for conv, name in _CONVERTER.findall(rule):
        # Integer ids are PostgreSQL `integer`s; string ids named `*_id` are UUIDs.
        if conv == "int":
            schema = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
        elif name.endswith("_id"):
            schema = {"type": "string", "format": "uuid"}
        else:
            schema = {"type": "string"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params
