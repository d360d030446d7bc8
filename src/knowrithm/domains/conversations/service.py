"""Conversation and message rules: who may see which conversation, lists, soft deletes, chat intake.

Lead principals reach only the conversations of their visitor session (`access`); everything
else is scoped to the caller's company by infra.tenancy (missing and foreign are the same 404)."""
from __future__ import annotations

import time
import uuid
from datetime import datetime

from sqlalchemy import func, select, update

from knowrithm.domains.agents.models import Agent
from knowrithm.domains.leads.models import Lead
from knowrithm.domains.leads.service import active_lead
from knowrithm.domains.widget import embed
from knowrithm.infra import ratelimit
from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db, utcnow
from knowrithm.infra.errors import NotFound, ValidationFailed
from knowrithm.infra.parsing import parse_uuid
from knowrithm.infra.tasks import enqueue
from knowrithm.infra.tenancy import get_or_404

from . import events, stream_claims, tasks
from .access import may_reach, reachable_conversations, session_of
from .models import Conversation, Message

DEFAULT_TITLE = "New Conversation"


def caller_entity(principal: Principal) -> tuple[str, uuid.UUID | None]:
    """Leads own their conversations; users and API keys (acting for their user) are `user`."""
    if principal.kind == "lead":
        return "lead", principal.lead_id
    return "user", principal.user_id


def check_lead(principal: Principal) -> None:
    if principal.kind == "lead":
        active_lead(principal.lead_id)


def is_participant(conv: Conversation, principal: Principal) -> bool:
    """The conversation's own user or lead (not staff looking at it)."""
    return caller_entity(principal) == (conv.entity_type, conv.entity_id)


def load(conversation_id, principal: Principal, *, include_deleted: bool = False) -> Conversation:
    conv = get_or_404(Conversation, conversation_id, include_deleted=include_deleted, what="Conversation")
    if not may_reach(principal, conv):
        raise NotFound("Conversation not found")
    if principal.kind == "lead" and principal.origin:
        embed.check_origin(db.session.get(Agent, conv.agent_id), principal.origin)
    return conv


def agents_by_id(ids) -> dict:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    rows = db.session.execute(select(Agent).where(Agent.id.in_(ids)).execution_options(include_deleted=True))
    return {a.id: a for a in rows.scalars()}


# --- conversations ---------------------------------------------------------------------

def create(*, principal: Principal, data: dict) -> tuple[Conversation, Agent]:
    stamp = stream_claims.current_stamp()
    check_lead(principal)
    agent = get_or_404(Agent, data["agent_id"], what="Agent")
    if principal.kind == "lead":
        embed.check_origin(agent, principal.origin)
    entity_type, entity_id = caller_entity(principal)
    meta = dict(data.get("metadata") or {})
    if principal.kind != "lead":
        # Staff may open a conversation on someone's behalf (the TS wrapper puts these in metadata).
        requested_type = data.get("entity_type") or meta.get("entity_type")
        requested_id = data.get("entity_id") or meta.get("entity_id")
        if requested_type:
            if requested_type not in ("user", "lead"):
                raise ValidationFailed("Invalid entity_type", details={"entity_type": ["must be user or lead"]})
            entity_type = requested_type
        if requested_id:
            entity_id = parse_uuid(requested_id, "entity_id")
            if entity_type == "lead":
                get_or_404(Lead, entity_id, what="Lead")
    conv = Conversation(company_id=agent.company_id, agent_id=agent.id, entity_type=entity_type,
                        entity_id=entity_id, visitor_session_id=session_of(principal),
                        title=(data.get("title") or DEFAULT_TITLE).strip() or DEFAULT_TITLE,
                        status="active", extra_metadata=meta, max_context_length=data.get("max_context_length") or 4000,
                        last_activity=utcnow(), tags=[])
    db.session.add(conv)
    db.session.commit()
    # (check_lead above found the lead active)
    stream_claims.store(conv, agent, stamp=stamp,
                        active_lead_id=principal.lead_id if principal.kind == "lead" else None)
    return conv, agent


def _status_filter(stmt, status: str | None, default: str | None = "active"):
    status = status or default
    if status == "deleted":
        return stmt.where(Conversation.deleted_at.is_not(None)).execution_options(include_deleted=True)
    if status == "all":
        return stmt.execution_options(include_deleted=True)
    if status:
        return stmt.where(Conversation.status == status)
    return stmt


def list_conversations(*, page: int, per_page: int, status: str | None = None, agent_id=None,
                       entity_type: str | None = None, entity_id=None, search: str | None = None,
                       created_before: datetime | None = None, created_after: datetime | None = None,
                       default_status: str | None = None,
                       principal: Principal | None = None) -> tuple[list[Conversation], int]:
    stmt = _status_filter(select(Conversation), status, default_status)
    if principal is not None and (reachable := reachable_conversations(principal)) is not None:
        stmt = stmt.where(reachable)
    if agent_id:
        stmt = stmt.where(Conversation.agent_id == parse_uuid(agent_id, "agent_id"))
    if entity_type:
        stmt = stmt.where(Conversation.entity_type == entity_type)
    if entity_id:
        stmt = stmt.where(Conversation.entity_id == entity_id)
    if search:
        stmt = stmt.where(Conversation.title.ilike(f"%{search.strip()}%"))
    if created_before:
        stmt = stmt.where(Conversation.created_at < created_before)
    if created_after:
        stmt = stmt.where(Conversation.created_at > created_after)
    total = db.session.execute(stmt.with_only_columns(func.count(Conversation.id))).scalar_one()
    order = (func.coalesce(Conversation.last_activity, Conversation.created_at).desc(), Conversation.id)
    rows = db.session.execute(stmt.order_by(*order).offset((page - 1) * per_page).limit(per_page)).scalars()
    return list(rows), total


def list_caller_conversations(*, principal: Principal, page: int, per_page: int,
                              status: str | None) -> tuple[list, int]:
    """The calling user's or lead's own conversations."""
    check_lead(principal)
    entity_type, entity_id = caller_entity(principal)
    return list_conversations(page=page, per_page=per_page, status=status, entity_type=entity_type,
                              entity_id=entity_id, default_status="active", principal=principal)


def list_agent_conversations(agent_id, *, page: int, per_page: int, status: str | None) -> tuple[list, int]:
    agent = get_or_404(Agent, agent_id, include_deleted=True, what="Agent")
    return list_conversations(page=page, per_page=per_page, status=status, agent_id=agent.id, default_status="active")


def delete_conversation(conversation_id, *, principal: Principal) -> tuple[Conversation, int]:
    conv = load(conversation_id, principal)
    now = utcnow()
    count = db.session.execute(
        update(Message).where(Message.conversation_id == conv.id, Message.deleted_at.is_(None)).values(deleted_at=now)
    ).rowcount
    conv.deleted_at = now
    db.session.commit()
    return conv, count


def restore_conversation(conversation_id, *, principal: Principal) -> tuple[Conversation, int]:
    """Restores the conversation and the messages deleted together with it (same timestamp)."""
    conv = load(conversation_id, principal, include_deleted=True)
    if conv.deleted_at is None:
        return conv, 0
    count = db.session.execute(
        update(Message).where(Message.conversation_id == conv.id, Message.deleted_at == conv.deleted_at)
        .values(deleted_at=None)
    ).rowcount
    conv.deleted_at = None
    if conv.status == "deleted":
        conv.status = "active"
    db.session.commit()
    return conv, count


def delete_messages(conversation_id, *, principal: Principal) -> tuple[Conversation, int]:
    return _mark_messages(conversation_id, principal, deleted=True)


def restore_messages(conversation_id, *, principal: Principal) -> tuple[Conversation, int]:
    return _mark_messages(conversation_id, principal, deleted=False)


def _mark_messages(conversation_id, principal: Principal, *, deleted: bool) -> tuple[Conversation, int]:
    """Soft-deletes (or restores) every message of the conversation; returns it and the count changed."""
    conv = load(conversation_id, principal)
    pending = Message.deleted_at.is_(None) if deleted else Message.deleted_at.is_not(None)
    count = db.session.execute(
        update(Message).where(Message.conversation_id == conv.id, pending)
        .values(deleted_at=utcnow() if deleted else None)
    ).rowcount
    _recount(conv)
    db.session.commit()
    return conv, count


def _recount(conv: Conversation) -> None:
    db.session.flush()
    conv.message_count = db.session.execute(
        select(func.count(Message.id)).where(Message.conversation_id == conv.id)).scalar_one()


# --- messages ----------------------------------------------------------------------------

def list_messages(conversation_id, *, page: int, per_page: int,
                  principal: Principal) -> tuple[Conversation, list[Message], int]:
    """Page 1 is the newest `per_page` messages; each page reads oldest to newest (docs/api-compatibility.md, "Message order").

    When the participant reads them, the answers on the page count as received (no stream
    replays them later)."""
    check_lead(principal)
    conv = load(conversation_id, principal)
    base = select(Message).where(Message.conversation_id == conv.id)
    total = db.session.execute(base.with_only_columns(func.count(Message.id))).scalar_one()
    rows = db.session.execute(base.order_by(Message.created_at.desc(), Message.id.desc())
                              .offset((page - 1) * per_page).limit(per_page)).scalars().all()
    if is_participant(conv, principal):
        events.answers_received(conv.id, [m.reply_to_id for m in rows if m.role == "assistant"])
    return conv, list(reversed(rows)), total


def load_message(message_id, *, include_deleted: bool = False) -> Message:
    return get_or_404(Message, message_id, include_deleted=include_deleted, what="Message")


def delete_message(message_id) -> Message:
    msg = load_message(message_id)
    msg.soft_delete()
    conv = db.session.get(Conversation, msg.conversation_id)
    if conv is not None:
        _recount(conv)
    db.session.commit()
    return msg


def restore_message(message_id) -> Message:
    msg = load_message(message_id, include_deleted=True)
    conv = db.session.execute(select(Conversation).where(Conversation.id == msg.conversation_id)
                              .execution_options(include_deleted=True)).scalar_one_or_none()
    if conv is not None and conv.deleted_at is not None:
        raise ValidationFailed("Restore the conversation first", code="CONVERSATION_DELETED")
    msg.restore()
    if conv is not None:
        _recount(conv)
    db.session.commit()
    return msg


def deleted_messages(*, limit: int = 500) -> list[Message]:
    stmt = (select(Message).where(Message.deleted_at.is_not(None)).execution_options(include_deleted=True)
            .order_by(Message.deleted_at.desc()).limit(limit))
    return list(db.session.execute(stmt).scalars())


def record_feedback(message_id, *, principal: Principal, rating: int, comment: str | None) -> Message:
    check_lead(principal)
    msg = load_message(message_id)
    load(msg.conversation_id, principal)  # a lead may rate only its own conversation's replies
    if msg.role != "assistant":
        raise ValidationFailed("Only assistant replies can be rated", code="FEEDBACK_TARGET",
                               details={"message_id": ["not an assistant message"]})
    msg.user_feedback = rating
    msg.feedback_comment = comment
    db.session.commit()
    return msg


def rate_conversation(conversation_id, *, principal: Principal, rating: int, comment: str | None) -> Conversation:
    """The visitor's 1-5 rating of the whole conversation (the widget asks after an answer);
    it is the conversation's `lead_satisfaction` and ends the conversation."""
    check_lead(principal)
    conv = load(conversation_id, principal)
    conv.lead_satisfaction = float(rating)
    conv.ended_at = conv.ended_at or utcnow()
    if comment:
        conv.extra_metadata = {**(conv.extra_metadata or {}), "rating_comment": comment}
    db.session.commit()
    return conv


# --- chat intake ----------------------------------------------------------------------------

def accept_chat(conversation_id, *, text: str, principal: Principal, rates: dict[str, str]) -> tuple[str, str, str]:
    """Store the user's message and queue the answer (docs/architecture.md, "Data flow: a chat answer");
    returns (task id, conversation id, message id) for the acknowledgement.

    `rates`: the chat budgets, keyword arguments of `check_chat_rate`."""
    conv = load(conversation_id, principal)
    check_chat_rate(conv, principal, **rates)
    check_lead(principal)
    if conv.status != "active":
        raise ValidationFailed(f"This conversation is {conv.status}", code="CONVERSATION_INACTIVE")
    now = utcnow()
    msg = Message(id=uuid.uuid4(), company_id=conv.company_id, conversation_id=conv.id, agent_id=conv.agent_id,
                  role="user", content=text, content_type="text", status="queued", created_at=now,
                  sources=[], extra_metadata={})
    db.session.add(msg)
    conv.message_count = (conv.message_count or 0) + 1
    conv.last_activity = now
    if principal.kind == "lead":
        db.session.execute(_touch_lead(principal.lead_id, now))
    acknowledged_ms = int(time.time() * 1000)
    # Plain strings: the commit expires the ORM objects and reading them after it would reload both rows.
    conv_id, msg_id = str(conv.id), str(msg.id)
    record = enqueue(tasks.answer, company_id=conv.company_id, commit=False, conversation_id=conv_id,
                     message_id=msg_id, acknowledged_ms=acknowledged_ms)
    task_id = str(record.id)
    # "queued" is published before the commit sends the task, so no worker event can precede it.
    events.chat_status(conversation_id=conv_id, message_id=msg_id, task_id=task_id, status="queued",
                       acknowledged_ms=acknowledged_ms)
    db.session.commit()
    return task_id, conv_id, msg_id


def check_chat_rate(conv: Conversation, principal: Principal, *, per_session: str, per_conversation: str,
                    per_company: str) -> None:
    """Every chat turn is an LLM call: a public widget must not be an unlimited bill. Budgets per
    visitor session (leads), per conversation and per company; 429 + Retry-After beyond them."""
    message = "Too many messages; please wait a moment before sending another"
    if principal.kind == "lead":
        ratelimit.check("chat-session", str(principal.session_id or principal.lead_id), per_session, message=message)
    ratelimit.check("chat-conversation", str(conv.id), per_conversation, message=message)
    ratelimit.check("chat-company", str(conv.company_id), per_company, message=message)


def _touch_lead(lead_id, now):
    return update(Lead).where(Lead.id == lead_id).values(last_activity=now)
