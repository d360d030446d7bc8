"""Audit trail: `record()` adds a row to the caller's transaction, so it commits (or rolls
back) together with the change it describes."""
from __future__ import annotations

from flask import g, has_request_context, request

from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db

from .models import AuditLog


def record(event_type: str, *, actor: Principal | None = None, company_id=None, entity_type: str | None = None,
           entity_id=None, description: str | None = None, risk_level: str = "low", category: str | None = None,
           details: dict | None = None, user_id=None) -> AuditLog:
    if actor is None and has_request_context():
        actor = g.get("principal")
    row = AuditLog(
        event_type=event_type,
        event_category=category or event_type.split(".", 1)[0],
        company_id=company_id or (actor.company_id if actor else None),
        user_id=user_id or (actor.user_id if actor else None),
        impersonator_id=actor.impersonator_id if actor else None,
        api_key_id=actor.api_key_id if actor else None,
        user_role=actor.role if actor else None,
        entity_type=entity_type,
        entity_id=str(entity_id) if entity_id else None,
        description=description,
        risk_level=risk_level,
        details=details or {},
    )
    if has_request_context():
        row.ip_address = request.headers.get("X-Forwarded-For", request.remote_addr or "").split(",")[0].strip()
        row.user_agent = (request.user_agent.string or "")[:500]
        row.request_id = g.get("request_id")
    db.session.add(row)
    return row


# --- carrying the actor into a Celery task ------------------------------------------------
# Queued changes are audited in the task's own transaction (one change, one audit row), but
# the task has no request: the route passes `actor_ref()` along and the task rebuilds it.

def actor_ref(actor: Principal | None = None) -> dict:
    """A JSON-safe description of the caller (and where the request came from) for a task kwarg."""
    if actor is None and has_request_context():
        actor = g.get("principal")
    ref: dict = {}
    if actor is not None:
        ref = {"kind": actor.kind, "role": actor.role,
               **{k: str(v) for k in ("company_id", "user_id", "api_key_id", "impersonator_id")
                  if (v := getattr(actor, k)) is not None}}
    if has_request_context():
        ref["ip_address"] = request.headers.get("X-Forwarded-For", request.remote_addr or "").split(",")[0].strip()
        ref["user_agent"] = (request.user_agent.string or "")[:500]
        ref["request_id"] = g.get("request_id")
    return ref


def actor_from_ref(ref: dict | None) -> Principal | None:
    import uuid

    if not ref or "kind" not in ref:
        return None

    def _id(name):
        return uuid.UUID(ref[name]) if ref.get(name) else None

    return Principal(kind=ref["kind"], company_id=_id("company_id"), user_id=_id("user_id"), role=ref.get("role"),
                     api_key_id=_id("api_key_id"), impersonator_id=_id("impersonator_id"))


def record_for(ref: dict | None, event_type: str, **kwargs) -> AuditLog:
    """`record()` from inside a task, with the actor and origin captured by `actor_ref()`."""
    ref = ref or {}
    row = record(event_type, actor=actor_from_ref(ref), **kwargs)
    row.ip_address = ref.get("ip_address") or row.ip_address
    row.user_agent = ref.get("user_agent") or row.user_agent
    row.request_id = ref.get("request_id") or row.request_id
    return row
