"""Conversation and message rules: who may see which conversation, lists, soft deletes, chat intake.

Lead principals reach only conversations whose entity is that lead; everything else is
scoped to the caller's company by infra.tenancy (missing and foreign are the same 404)."""
from __future__ import annotations

import time
import uuid
from datetime import datetime

from sqlalchemy import func, select, update

from knowrithm.domains.agents.models import Agent
from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db, utcnow
from knowrithm.infra.errors import NotFound, ValidationFailed
from knowrithm.infra.tasks import enqueue, status_url
from knowrithm.infra.tenancy import get_or_404

from . import events
from .models import Conversation, Message

DEFAULT_TITLE = "New Conversation"


def _uuid(value, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        raise ValidationFailed(f"Invalid {field}", details={field: ["must be a UUID"]}) from None


def caller_entity(principal: Principal) -> tuple[str, uuid.UUID | None]:
    """Leads own their conversations; users and API keys (acting for their user) are `user`."""
    if principal.kind == "lead":
        return "lead", principal.lead_id
    return "user", principal.user_id


def check_lead(principal: Principal) -> None:
    if principal.kind == "lead":
        from knowrithm.domains.leads.service import active_lead

        active_lead(principal.lead_id)


def load(conversation_id, principal: Principal, *, include_deleted: bool = False) -> Conversation:
    conv = get_or_404(Conversation, conversation_id, include_deleted=include_deleted, what="Conversation")
    if principal.kind == "lead" and (conv.entity_type != "lead" or conv.entity_id != principal.lead_id):
        raise NotFound("Conversation not found")
    return conv


def agents_by_id(ids) -> dict:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    rows = db.session.execute(select(Agent).where(Agent.id.in_(ids)).execution_options(include_deleted=True))
    return {a.id: a for a in rows.scalars()}


# --- conversations ---------------------------------------------------------------------

def create(*, principal: Principal, data: dict) -> tuple[Conversation, Agent]:
    check_lead(principal)
    agent = get_or_404(Agent, data["agent_id"], what="Agent")
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
            entity_id = _uuid(requested_id, "entity_id")
            if entity_type == "lead":
                from knowrithm.domains.leads.models import Lead

                get_or_404(Lead, entity_id, what="Lead")
    conv = Conversation(company_id=agent.company_id, agent_id=agent.id, entity_type=entity_type,
                        entity_id=entity_id, title=(data.get("title") or DEFAULT_TITLE).strip() or DEFAULT_TITLE,
                        status="active", extra_metadata=meta, max_context_length=data.get("max_context_length") or 4000,
                        last_activity=utcnow(), tags=[])
    db.session.add(conv)
    db.session.commit()
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
                       default_status: str | None = None) -> tuple[list[Conversation], int]:
    stmt = _status_filter(select(Conversation), status, default_status)
    if agent_id:
        stmt = stmt.where(Conversation.agent_id == _uuid(agent_id, "agent_id"))
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


def delete_conversation(conv: Conversation) -> int:
    now = utcnow()
    count = db.session.execute(
        update(Message).where(Message.conversation_id == conv.id, Message.deleted_at.is_(None)).values(deleted_at=now)
    ).rowcount
    conv.deleted_at = now
    db.session.commit()
    return count


def restore_conversation(conv: Conversation) -> int:
    """Restores the conversation and the messages deleted together with it (same timestamp)."""
    if conv.deleted_at is None:
        return 0
    count = db.session.execute(
        update(Message).where(Message.conversation_id == conv.id, Message.deleted_at == conv.deleted_at)
        .values(deleted_at=None)
    ).rowcount
    conv.deleted_at = None
    if conv.status == "deleted":
        conv.status = "active"
    db.session.commit()
    return count


def delete_messages(conv: Conversation) -> int:
    count = db.session.execute(
        update(Message).where(Message.conversation_id == conv.id, Message.deleted_at.is_(None))
        .values(deleted_at=utcnow())
    ).rowcount
    _recount(conv)
    db.session.commit()
    return count


def restore_messages(conv: Conversation) -> int:
    count = db.session.execute(
        update(Message).where(Message.conversation_id == conv.id, Message.deleted_at.is_not(None))
        .values(deleted_at=None)
    ).rowcount
    _recount(conv)
    db.session.commit()
    return count


def _recount(conv: Conversation) -> None:
    db.session.flush()
    conv.message_count = db.session.execute(
        select(func.count(Message.id)).where(Message.conversation_id == conv.id)).scalar_one()


# --- messages ----------------------------------------------------------------------------

def list_messages(conv: Conversation, *, page: int, per_page: int) -> tuple[list[Message], int]:
    """Page 1 is the newest `per_page` messages; each page reads oldest to newest (CONTRACT D-9)."""
    base = select(Message).where(Message.conversation_id == conv.id)
    total = db.session.execute(base.with_only_columns(func.count(Message.id))).scalar_one()
    rows = db.session.execute(base.order_by(Message.created_at.desc(), Message.id.desc())
                              .offset((page - 1) * per_page).limit(per_page)).scalars().all()
    return list(reversed(rows)), total


def load_message(message_id, *, include_deleted: bool = False) -> Message:
    return get_or_404(Message, message_id, include_deleted=include_deleted, what="Message")


def delete_message(msg: Message) -> None:
    msg.soft_delete()
    conv = db.session.get(Conversation, msg.conversation_id)
    if conv is not None:
        _recount(conv)
    db.session.commit()


def restore_message(msg: Message) -> None:
    conv = db.session.execute(select(Conversation).where(Conversation.id == msg.conversation_id)
                              .execution_options(include_deleted=True)).scalar_one_or_none()
    if conv is not None and conv.deleted_at is not None:
        raise ValidationFailed("Restore the conversation first", code="CONVERSATION_DELETED")
    msg.restore()
    if conv is not None:
        _recount(conv)
    db.session.commit()


def deleted_messages(*, limit: int = 500) -> list[Message]:
    stmt = (select(Message).where(Message.deleted_at.is_not(None)).execution_options(include_deleted=True)
            .order_by(Message.deleted_at.desc()).limit(limit))
    return list(db.session.execute(stmt).scalars())


def record_feedback(msg: Message, *, rating: int, comment: str | None) -> Message:
    if msg.role != "assistant":
        raise ValidationFailed("Only assistant replies can be rated", code="FEEDBACK_TARGET",
                               details={"message_id": ["not an assistant message"]})
    msg.user_feedback = rating
    msg.feedback_comment = comment
    db.session.commit()
    return msg


# --- chat intake ----------------------------------------------------------------------------

def accept_chat(conv: Conversation, *, text: str, principal: Principal) -> dict:
    """Store the user's message, queue the answer, and acknowledge at once (CONTRACT N12)."""
    from . import tasks

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
    return {"status": "queued", "task_id": task_id, "conversation_id": conv_id, "message_id": msg_id,
            "status_url": status_url(task_id), "poll_url": f"/api/v1/conversation/{conv_id}/messages",
            "message": "Message received; answer queued", "estimated_time": 5}


def _touch_lead(lead_id, now):
    from knowrithm.domains.leads.models import Lead

    return update(Lead).where(Lead.id == lead_id).values(last_activity=now)
