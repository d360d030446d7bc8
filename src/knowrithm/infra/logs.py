"""Log lines that say where they came from: JSON with request id, company, route and latency.

`configure_logging` installs one handler on the root logger; its `ContextFilter` stamps every
record, whichever library logged it, with the request id, the acting company and the route of
the request (or task) that was running. A task runs under the request id of the request that
queued it (`infra.tasks.enqueue` sends it as a message header), so one id follows a chat
question from the HTTP request through the worker.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

from flask import g, has_request_context, request

from .tenancy import current_company_id

# Set while a task runs (a request reads Flask's `g` instead).
_task_context: ContextVar[dict | None] = ContextVar("knowrithm_log_context", default=None)
FIELDS = ("request_id", "company_id", "route")


def current_request_id() -> str | None:
    if has_request_context():
        return g.get("request_id")
    ctx = _task_context.get()
    return ctx.get("request_id") if ctx else None


@contextmanager
def task_log_context(*, request_id: str | None, task: str) -> Iterator[None]:
    token = _task_context.set({"request_id": request_id, "route": f"task:{task}"})
    try:
        yield
    finally:
        _task_context.reset(token)


class ContextFilter(logging.Filter):
    """Adds `request_id`, `company_id` and `route` unless the call passed them in `extra`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            rule = request.url_rule
            values = {"request_id": g.get("request_id"), "route": rule.rule if rule is not None else request.path}
        else:
            values = dict(_task_context.get() or {})
        company = current_company_id()
        values["company_id"] = str(company) if company else None
        for name in FIELDS:
            if getattr(record, name, None) is None:
                setattr(record, name, values.get(name))
        return True


def configure_logging(level: str = "INFO", json_logs: bool = True) -> None:
    root = logging.getLogger()
    if getattr(root, "_knowrithm_configured", False):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(json_formatter() if json_logs else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(route)s] %(message)s"))
    handler.addFilter(ContextFilter())
    root.handlers = [handler]
    root.setLevel(level)
    root._knowrithm_configured = True  # type: ignore[attr-defined]


def json_formatter() -> logging.Formatter:
    """One JSON object per line; `extra` fields and the context fields become keys, a traceback
    goes in `exc_info`."""
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                         rename_fields={"asctime": "time", "levelname": "level"})
