"""Which conversations a principal may reach: the one rule, shared by HTTP routes and streams.

Staff principals (users and API keys) reach every conversation of their company; the
company part is applied by the tenancy hook (infra.tenancy) on every query. A lead reaches
only the conversations its own visitor session started: knowing a visitor's email (enough
to register again) yields a new session, never the earlier sessions' history. A session is
resumed only with its own tokens (`POST /lead/refresh`).
"""
from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, and_, false

from knowrithm.infra.auth import Principal

from .models import Conversation


def _session_uuid(principal: Principal) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(principal.session_id)) if principal.session_id else None
    except ValueError:
        return None


def reachable_conversations(principal: Principal) -> ColumnElement[bool] | None:
    """A WHERE clause limiting `Conversation` rows to the principal's, or None when the
    company scope alone decides (staff)."""
    if principal.kind != "lead":
        return None
    session_id = _session_uuid(principal)
    if session_id is None:  # a lead token from before visitor sessions reaches nothing
        return false()
    return and_(Conversation.entity_type == "lead", Conversation.entity_id == principal.lead_id,
                Conversation.visitor_session_id == session_id)


def may_reach(principal: Principal, conv) -> bool:
    """The same rule for a loaded row (the row already passed the company scope), or anything
    with its `entity_type`, `entity_id` and `visitor_session_id` (a stream claim)."""
    if principal.kind != "lead":
        return True
    session_id = _session_uuid(principal)
    return (session_id is not None and conv.entity_type == "lead" and conv.entity_id == principal.lead_id
            and conv.visitor_session_id == session_id)


def session_of(principal: Principal) -> uuid.UUID | None:
    """The visitor session a new conversation by this principal belongs to."""
    return _session_uuid(principal) if principal.kind == "lead" else None
