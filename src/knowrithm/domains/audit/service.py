"""Audit trail: `record()` adds a row to the caller's transaction, so it commits (or rolls
back) together with the change it describes.

The actor is always passed in (None for the platform itself: beat sweeps, retention). It is
the principal the edge resolved, stamped there with the request's origin (address, user
agent, request id), so this module never reads the request. A task has no request: whoever
enqueues it passes `actor_ref(actor)` along and the task rebuilds the principal with
`actor_from_ref`. That is the one way an actor travels into a task (docs/architecture.md,
"The write path").
"""
from __future__ import annotations

import uuid

from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db

from .models import AuditLog

ORIGIN_FIELDS = ("ip_address", "user_agent", "request_id")
_IDS = ("company_id", "user_id", "api_key_id", "impersonator_id")


def record(event_type: str, *, actor: Principal | None, company_id=None, entity_type: str | None = None,
           entity_id=None, description: str | None = None, risk_level: str = "low", category: str | None = None,
           details: dict | None = None, user_id=None) -> AuditLog:
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
        **{name: getattr(actor, name) for name in ORIGIN_FIELDS if actor is not None and getattr(actor, name)},
    )
    db.session.add(row)
    return row


# --- carrying the actor into a Celery task ------------------------------------------------
# Queued changes are audited in the task's own transaction (one change, one audit row), but
# the task has no request: the caller passes `actor_ref(actor)` along and the task rebuilds it.

def actor_ref(actor: Principal | None) -> dict:
    """A JSON-safe description of the actor (and where its request came from) for a task kwarg."""
    if actor is None:
        return {}
    ref = {"kind": actor.kind, "role": actor.role,
           **{k: str(v) for k in _IDS if (v := getattr(actor, k)) is not None}}
    ref.update({k: v for k in ORIGIN_FIELDS if (v := getattr(actor, k))})
    return ref


def actor_from_ref(ref: dict | None) -> Principal | None:
    if not ref or "kind" not in ref:
        return None

    def _id(name):
        return uuid.UUID(ref[name]) if ref.get(name) else None

    return Principal(kind=ref["kind"], role=ref.get("role"), **{k: _id(k) for k in _IDS},
                     **{k: ref.get(k) for k in ORIGIN_FIELDS})
