"""Conversation, message and chat routes (CONTRACT §2.15), including the SSE stream."""
from __future__ import annotations

from flask import Response, current_app, request

from knowrithm.infra import streaming
from knowrithm.infra.api import ApiBlueprint
from knowrithm.infra.auth import READ, READ_OR_LEAD, WRITE, WRITE_OR_LEAD, current_principal
from knowrithm.infra.db import db
from knowrithm.infra.errors import RateLimited, Unavailable
from knowrithm.infra.redis import get_redis

from . import service
from .schemas import (ChatIn, ConversationCreateIn, ConversationListQuery, EntityListQuery, FeedbackIn, MessagesQuery,
                      conversation_out, message_out)

bp = ApiBlueprint("conversations", __name__, tag="conversations")


def _pagination(page: int, per_page: int, total: int) -> dict:
    pages = (total + per_page - 1) // per_page if total else 0
    return {"page": page, "per_page": per_page, "total": total, "pages": pages,
            "has_next": page < pages, "has_prev": page > 1}


def _listing(rows, total, page, per_page, **extra) -> dict:
    agents = service.agents_by_id(c.agent_id for c in rows)
    items = [conversation_out(c, agents.get(c.agent_id)) for c in rows]
    return {"conversations": items, "data": items, "pagination": _pagination(page, per_page, total), **extra}


@bp.post("/conversation", auth=WRITE_OR_LEAD, body=ConversationCreateIn, status=201,
         summary="Start a conversation with an agent (the caller, or a lead token, is its entity)")
def create_conversation(body: ConversationCreateIn):
    conv, agent = service.create(principal=current_principal(), data=body.model_dump())
    return {"conversation": conversation_out(conv, agent), "id": str(conv.id), "message": "Conversation created"}


@bp.get("/conversation", auth=READ, query=ConversationListQuery, summary="List the company's conversations")
def list_conversations(query: ConversationListQuery):
    rows, total = service.list_conversations(page=query.page, per_page=query.per_page, status=query.status,
                                             agent_id=query.agent_id, entity_type=query.entity_type,
                                             search=query.search, created_before=query.created_before,
                                             created_after=query.created_after)
    return _listing(rows, total, query.page, query.per_page)


@bp.get("/conversation/entity", auth=READ_OR_LEAD, query=EntityListQuery,
        summary="Conversations of the calling user or lead")
def list_my_conversations(query: EntityListQuery):
    principal = current_principal()
    service.check_lead(principal)
    entity_type, entity_id = service.caller_entity(principal)
    rows, total = service.list_conversations(page=query.page, per_page=query.per_page, status=query.status,
                                             entity_type=entity_type, entity_id=entity_id, default_status="active")
    return _listing(rows, total, query.page, query.per_page)


@bp.get("/conversation/entity/<entity_id>", auth=READ, query=EntityListQuery,
        summary="Conversations of one user or lead (admin view)")
def list_entity_conversations(entity_id: str, query: EntityListQuery):
    rows, total = service.list_conversations(page=query.page, per_page=query.per_page, status=query.status,
                                             entity_type=query.entity_type,
                                             entity_id=service._uuid(entity_id, "entity_id"), default_status="active")
    return _listing(rows, total, query.page, query.per_page)


@bp.get("/conversation/agent/<agent_id>", auth=READ, query=EntityListQuery, summary="Conversations of one agent")
def list_agent_conversations(agent_id: str, query: EntityListQuery):
    from knowrithm.domains.agents.models import Agent
    from knowrithm.infra.tenancy import get_or_404

    agent = get_or_404(Agent, agent_id, include_deleted=True, what="Agent")
    rows, total = service.list_conversations(page=query.page, per_page=query.per_page, status=query.status,
                                             agent_id=agent.id, default_status="active")
    return _listing(rows, total, query.page, query.per_page)


@bp.get("/conversation/deleted", auth=READ, query=EntityListQuery, summary="Soft-deleted conversations")
def list_deleted_conversations(query: EntityListQuery):
    rows, total = service.list_conversations(page=query.page, per_page=query.per_page, status="deleted")
    body = _listing(rows, total, query.page, query.per_page)
    body["deleted_conversations"] = body["conversations"]
    return body


@bp.get("/conversation/<conversation_id>/messages", auth=READ_OR_LEAD, query=MessagesQuery,
        summary="Messages, oldest to newest within a page; page 1 holds the most recent ones")
def list_messages(conversation_id: str, query: MessagesQuery):
    principal = current_principal()
    service.check_lead(principal)
    conv = service.load(conversation_id, principal)
    rows, total = service.list_messages(conv, page=query.page, per_page=query.per_page)
    return {"messages": [message_out(m) for m in rows], "pagination": _pagination(query.page, query.per_page, total),
            "conversation": conversation_out(conv), "title": conv.title}


@bp.delete("/conversation/<conversation_id>", auth=WRITE, summary="Soft-delete a conversation and its messages")
def delete_conversation(conversation_id: str):
    conv = service.load(conversation_id, current_principal())
    count = service.delete_conversation(conv)
    return {"message": "Conversation deleted", "conversation_id": str(conv.id), "deleted_messages_count": count}


@bp.delete("/conversation/<conversation_id>/messages", auth=WRITE, summary="Soft-delete every message")
def delete_conversation_messages(conversation_id: str):
    conv = service.load(conversation_id, current_principal())
    count = service.delete_messages(conv)
    return {"message": "Messages deleted", "conversation_id": str(conv.id), "deleted_messages_count": count}


@bp.patch("/conversation/<conversation_id>/restore", auth=WRITE, summary="Restore a deleted conversation")
def restore_conversation(conversation_id: str):
    conv = service.load(conversation_id, current_principal(), include_deleted=True)
    count = service.restore_conversation(conv)
    return {"message": "Conversation restored", "conversation_id": str(conv.id), "restored_messages_count": count}


@bp.patch("/conversation/<conversation_id>/message/restore-all", auth=WRITE,
          summary="Restore every deleted message of a conversation")
def restore_all_messages(conversation_id: str):
    conv = service.load(conversation_id, current_principal())
    count = service.restore_messages(conv)
    return {"message": "Messages restored", "conversation_id": str(conv.id), "restored_messages_count": count}


@bp.post("/conversation/<conversation_id>/chat", auth=WRITE_OR_LEAD, body=ChatIn, status=202,
         summary="Send a message; the answer is built by a task and pushed on the stream")
def chat(conversation_id: str, body: ChatIn):
    principal = current_principal()
    conv = service.load(conversation_id, principal)
    return service.accept_chat(conv, text=body.message, principal=principal)


@bp.get("/conversation/<conversation_id>/messages/stream", auth=READ_OR_LEAD,
        summary="Server-Sent Events: chat_status, chat_response, chat_delta and heartbeat")
def stream_messages(conversation_id: str):
    settings = current_app.config["SETTINGS"]
    principal = current_principal()
    service.check_lead(principal)
    conv = service.load(conversation_id, principal)
    if not settings.STREAMING_ENABLED:
        raise Unavailable("Streaming is disabled on this server; poll the messages endpoint instead",
                          code="STREAMING_DISABLED")
    client = get_redis()
    company_id, topic = str(conv.company_id), str(conv.id)
    heartbeat = float(settings.SSE_HEARTBEAT_SECONDS)
    slot = streaming.acquire_slot(client, company_id, settings.SSE_MAX_STREAMS_PER_COMPANY,
                                  stale_after=max(60.0, heartbeat * 4))
    if slot is None:
        raise RateLimited("Too many open streams for this company", code="STREAM_LIMIT",
                          headers={"Retry-After": "30"})
    last_event_id = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    # Nothing below touches the database: give the connection back before the long response.
    db.session.remove()
    hub = streaming.hub_for(settings.redis_url)
    body = streaming.event_stream(hub=hub, client=client, topic=topic, company_id=company_id, slot=slot,
                                  last_event_id=last_event_id, heartbeat_seconds=heartbeat,
                                  hello={"conversation_id": topic})
    return Response(streaming.iter_chunks(body), status=200, headers=streaming.SSE_HEADERS,
                    content_type=streaming.SSE_MIMETYPE, direct_passthrough=True)


@bp.delete("/message/<message_id>", auth=WRITE, summary="Soft-delete a message")
def delete_message(message_id: str):
    msg = service.load_message(message_id)
    service.delete_message(msg)
    return {"message": "Message deleted", "message_id": str(msg.id)}


@bp.patch("/message/<message_id>/restore", auth=WRITE, summary="Restore a deleted message")
def restore_message(message_id: str):
    msg = service.load_message(message_id, include_deleted=True)
    service.restore_message(msg)
    return {"message": "Message restored", "message_id": str(msg.id)}


@bp.get("/message/deleted", auth=READ, summary="Soft-deleted messages of the company")
def list_deleted_messages():
    rows = service.deleted_messages()
    items = [message_out(m) for m in rows]
    return {"deleted_messages": items, "messages": items, "total": len(items)}


@bp.post("/message/<message_id>/feedback", auth=WRITE_OR_LEAD, body=FeedbackIn,
         summary="Thumbs up/down (and an optional comment) on an assistant reply")
def message_feedback(message_id: str, body: FeedbackIn):
    principal = current_principal()
    service.check_lead(principal)
    msg = service.load_message(message_id)
    service.load(msg.conversation_id, principal)  # a lead may rate only its own conversation's replies
    out = message_out(service.record_feedback(msg, rating=body.rating, comment=body.comment))
    return {"message": "Feedback recorded", "message_id": out["id"], "user_feedback": out["user_feedback"],
            "feedback_comment": out["feedback_comment"]}
