"""Conversation, message and chat routes, including the SSE stream."""
from __future__ import annotations

from flask import Response, current_app, request

from knowrithm.infra import streaming
from knowrithm.infra.api import ApiBlueprint
from knowrithm.infra.auth import READ, READ_OR_LEAD, WRITE, WRITE_OR_LEAD, current_principal
from knowrithm.infra.db import db
from knowrithm.infra.errors import RateLimited, Unavailable
from knowrithm.infra.pagination import page_meta
from knowrithm.infra.parsing import parse_uuid
from knowrithm.infra.redis import get_redis

from . import service, stream_claims
from .schemas import (ChatAcceptedOut, ChatIn, ConversationCreatedOut, ConversationCreateIn, ConversationListOut,
                      ConversationListQuery, DeletedConversationsOut, DeletedMessagesOut, EntityListQuery, FeedbackIn,
                      FeedbackOut, MessageChangedOut, MessageListOut, MessagesDeletedOut, MessagesQuery,
                      MessagesRestoredOut, RatedOut, RatingIn, chat_accepted_out, conversation_out, message_out)

bp = ApiBlueprint("conversations", __name__, tag="conversations")


def _listing(rows, total, page, per_page, **extra) -> dict:
    agents = service.agents_by_id(c.agent_id for c in rows)
    items = [conversation_out(c, agents.get(c.agent_id)) for c in rows]
    return {"conversations": items, "data": items, "pagination": page_meta(page, per_page, total), **extra}


@bp.post("/conversation", auth=WRITE_OR_LEAD, widget=True, body=ConversationCreateIn, status=201,
         response=ConversationCreatedOut,
         summary="Start a conversation with an agent (the caller, or a lead token, is its entity)")
def create_conversation(body: ConversationCreateIn):
    conv, agent = service.create(principal=current_principal(), data=body.model_dump())
    return {"conversation": conversation_out(conv, agent), "id": str(conv.id), "message": "Conversation created"}


@bp.get("/conversation", auth=READ, query=ConversationListQuery, response=ConversationListOut,
        summary="List the company's conversations")
def list_conversations(query: ConversationListQuery):
    rows, total = service.list_conversations(page=query.page, per_page=query.per_page, status=query.status,
                                             agent_id=query.agent_id, entity_type=query.entity_type,
                                             search=query.search, created_before=query.created_before,
                                             created_after=query.created_after)
    return _listing(rows, total, query.page, query.per_page)


@bp.get("/conversation/entity", auth=READ_OR_LEAD, widget=True, query=EntityListQuery, response=ConversationListOut,
        summary="Conversations of the calling user or lead")
def list_my_conversations(query: EntityListQuery):
    rows, total = service.list_caller_conversations(principal=current_principal(), page=query.page,
                                                    per_page=query.per_page, status=query.status)
    return _listing(rows, total, query.page, query.per_page)


@bp.get("/conversation/entity/<entity_id>", auth=READ, query=EntityListQuery, response=ConversationListOut,
        summary="Conversations of one user or lead (admin view)")
def list_entity_conversations(entity_id: str, query: EntityListQuery):
    rows, total = service.list_conversations(page=query.page, per_page=query.per_page, status=query.status,
                                             entity_type=query.entity_type,
                                             entity_id=parse_uuid(entity_id, "entity_id"), default_status="active")
    return _listing(rows, total, query.page, query.per_page)


@bp.get("/conversation/agent/<agent_id>", auth=READ, query=EntityListQuery, response=ConversationListOut,
        summary="Conversations of one agent")
def list_agent_conversations(agent_id: str, query: EntityListQuery):
    rows, total = service.list_agent_conversations(agent_id, page=query.page, per_page=query.per_page,
                                                   status=query.status)
    return _listing(rows, total, query.page, query.per_page)


@bp.get("/conversation/deleted", auth=READ, query=EntityListQuery, response=DeletedConversationsOut,
        summary="Soft-deleted conversations")
def list_deleted_conversations(query: EntityListQuery):
    rows, total = service.list_conversations(page=query.page, per_page=query.per_page, status="deleted")
    body = _listing(rows, total, query.page, query.per_page)
    body["deleted_conversations"] = body["conversations"]
    return body


@bp.get("/conversation/<conversation_id>/messages", auth=READ_OR_LEAD, audit="conversation.transcript_viewed",
        widget=True, query=MessagesQuery, response=MessageListOut,
        summary="Messages, oldest to newest within a page; page 1 holds the most recent ones")
def list_messages(conversation_id: str, query: MessagesQuery):
    principal = current_principal()
    conv, rows, total = service.list_messages(conversation_id, page=query.page, per_page=query.per_page,
                                              principal=principal)
    visitor = principal.kind == "lead"
    return {"messages": [message_out(m, visitor=visitor) for m in rows],
            "pagination": page_meta(query.page, query.per_page, total),
            "conversation": conversation_out(conv), "title": conv.title}


@bp.delete("/conversation/<conversation_id>", auth=WRITE, response=MessagesDeletedOut,
            summary="Soft-delete a conversation and its messages")
def delete_conversation(conversation_id: str):
    conv, count = service.delete_conversation(conversation_id, principal=current_principal())
    return {"message": "Conversation deleted", "conversation_id": str(conv.id), "deleted_messages_count": count}


@bp.delete("/conversation/<conversation_id>/messages", auth=WRITE, response=MessagesDeletedOut,
            summary="Soft-delete every message")
def delete_conversation_messages(conversation_id: str):
    conv, count = service.delete_messages(conversation_id, principal=current_principal())
    return {"message": "Messages deleted", "conversation_id": str(conv.id), "deleted_messages_count": count}


@bp.patch("/conversation/<conversation_id>/restore", auth=WRITE, response=MessagesRestoredOut,
           summary="Restore a deleted conversation")
def restore_conversation(conversation_id: str):
    conv, count = service.restore_conversation(conversation_id, principal=current_principal())
    return {"message": "Conversation restored", "conversation_id": str(conv.id), "restored_messages_count": count}


@bp.patch("/conversation/<conversation_id>/message/restore-all", auth=WRITE, response=MessagesRestoredOut,
          summary="Restore every deleted message of a conversation")
def restore_all_messages(conversation_id: str):
    conv, count = service.restore_messages(conversation_id, principal=current_principal())
    return {"message": "Messages restored", "conversation_id": str(conv.id), "restored_messages_count": count}


@bp.post("/conversation/<conversation_id>/chat", auth=WRITE_OR_LEAD, widget=True, body=ChatIn, status=202,
         response=ChatAcceptedOut,
         summary="Send a message; the answer is built by a task and pushed on the stream")
def chat(conversation_id: str, body: ChatIn):
    settings = current_app.config["SETTINGS"]
    rates = {"per_session": settings.CHAT_RATE_PER_SESSION, "per_conversation": settings.CHAT_RATE_PER_CONVERSATION,
             "per_company": settings.CHAT_RATE_PER_COMPANY}
    return chat_accepted_out(*service.accept_chat(conversation_id, text=body.message, principal=current_principal(),
                                                  rates=rates))


@bp.get("/conversation/<conversation_id>/messages/stream", auth=READ_OR_LEAD, widget=True,
        media_type="text/event-stream",
        summary="Server-Sent Events: chat_status, chat_response, chat_delta and heartbeat")
def stream_messages(conversation_id: str):
    settings = current_app.config["SETTINGS"]
    # The access facts come from Redis (stream_claims): a burst of (re)opens needs no database.
    claim = stream_claims.authorize(conversation_id, current_principal())
    if not settings.STREAMING_ENABLED:
        raise Unavailable("Streaming is disabled on this server; poll the messages endpoint instead",
                          code="STREAMING_DISABLED")
    client = get_redis()
    company_id, topic = claim.company_id, claim.conversation_id
    heartbeat = float(settings.SSE_HEARTBEAT_SECONDS)
    slot = streaming.acquire_slot(client, company_id, settings.SSE_MAX_STREAMS_PER_COMPANY,
                                  stale_after=max(60.0, heartbeat * 4))
    if slot is None:
        raise RateLimited("Too many open streams for this company", code="STREAM_LIMIT",
                          headers={"Retry-After": "30"})
    last_event_id = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    # A session checked out on a cache miss goes back before the long response.
    db.session.remove()
    hub = streaming.hub_for(settings.redis_url)
    body = streaming.event_stream(hub=hub, client=client, topic=topic, company_id=company_id, slot=slot,
                                  last_event_id=last_event_id, heartbeat_seconds=heartbeat,
                                  hello={"conversation_id": topic},
                                  participant=claim.is_participant(current_principal()))
    return Response(streaming.iter_chunks(body), status=200, headers=streaming.SSE_HEADERS,
                    content_type=streaming.SSE_MIMETYPE, direct_passthrough=True)


@bp.delete("/message/<message_id>", auth=WRITE, response=MessageChangedOut, summary="Soft-delete a message")
def delete_message(message_id: str):
    msg = service.delete_message(message_id)
    return {"message": "Message deleted", "message_id": str(msg.id)}


@bp.patch("/message/<message_id>/restore", auth=WRITE, response=MessageChangedOut, summary="Restore a deleted message")
def restore_message(message_id: str):
    msg = service.restore_message(message_id)
    return {"message": "Message restored", "message_id": str(msg.id)}


@bp.get("/message/deleted", auth=READ, response=DeletedMessagesOut, summary="Soft-deleted messages of the company")
def list_deleted_messages():
    rows = service.deleted_messages()
    items = [message_out(m) for m in rows]
    return {"deleted_messages": items, "messages": items, "total": len(items)}


@bp.post("/conversation/<conversation_id>/rating", auth=WRITE_OR_LEAD, widget=True, body=RatingIn, response=RatedOut,
         summary="The visitor's 1-5 rating of a conversation (satisfaction, CSAT); ends it")
def rate_conversation(conversation_id: str, body: RatingIn):
    conv = service.rate_conversation(conversation_id, principal=current_principal(), rating=body.rating,
                                     comment=body.comment)
    return {"conversation": conversation_out(conv)}


@bp.post("/message/<message_id>/feedback", auth=WRITE_OR_LEAD, widget=True, body=FeedbackIn, response=FeedbackOut,
         summary="Thumbs up/down (and an optional comment) on an assistant reply")
def message_feedback(message_id: str, body: FeedbackIn):
    out = message_out(service.record_feedback(message_id, principal=current_principal(), rating=body.rating,
                                              comment=body.comment))
    return {"message": "Feedback recorded", "message_id": out["id"], "user_feedback": out["user_feedback"],
            "feedback_comment": out["feedback_comment"]}
