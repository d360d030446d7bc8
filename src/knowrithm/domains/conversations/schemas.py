"""Conversation and message request bodies and the objects the clients read."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from knowrithm.infra.db import iso, sid
from knowrithm.infra.parsing import UuidText
from knowrithm.infra.responses import Open, Pagination
from knowrithm.infra.tasks import status_url

MAX_MESSAGE_CHARS = 8000
FEEDBACK_UP = ("up", "like", "thumbs_up", "positive", "1", "+1", "true")
FEEDBACK_DOWN = ("down", "dislike", "thumbs_down", "negative", "-1", "false")
FEEDBACK = (*FEEDBACK_UP, *FEEDBACK_DOWN, 1, -1)
LIST_STATUSES = ("active", "archived", "deleted", "all")


class ConversationCreateIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    agent_id: UuidText = Field(min_length=1)
    title: str | None = Field(None, max_length=255)
    metadata: dict | None = None
    max_context_length: int | None = Field(None, ge=1000, le=200_000)
    entity_type: str | None = None
    entity_id: UuidText | None = None


class _Page(BaseModel):
    model_config = ConfigDict(extra="allow")
    page: int = Field(1, ge=1, le=1_000_000)  # the row offset stays a PostgreSQL bigint
    per_page: int = Field(20, ge=1, le=100)


def _status(value):
    if value is not None and value not in LIST_STATUSES:
        raise ValueError(f"must be one of {', '.join(LIST_STATUSES)}")
    return value


class ConversationListQuery(_Page):
    status: str | None = Field(None, json_schema_extra={"enum": list(LIST_STATUSES)})
    agent_id: UuidText | None = None
    search: str | None = Field(None, max_length=200)
    created_before: datetime | None = None
    created_after: datetime | None = None
    entity_type: str | None = None

    _check_status = field_validator("status")(_status)


class EntityListQuery(_Page):
    status: str | None = Field(None, json_schema_extra={"enum": list(LIST_STATUSES)})
    entity_type: str | None = None

    _check_status = field_validator("status")(_status)


class MessagesQuery(BaseModel):
    model_config = ConfigDict(extra="allow")
    page: int = Field(1, ge=1)
    per_page: int = Field(50, ge=1, le=200)


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    # Some character other than spaces (and no NUL), as the validator below requires.
    message: str = Field(max_length=MAX_MESSAGE_CHARS,
                         json_schema_extra={"pattern": r"^[^\u0000]*[^\s\u0000][^\u0000]*$"})

    @field_validator("message")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class RatingIn(BaseModel):
    rating: int = Field(ge=1, le=5, description="the visitor's rating of the conversation, 1 (bad) to 5 (great)")
    comment: str | None = Field(None, max_length=2000)


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    rating: str | int = Field(description="up/down, like/dislike, 1/-1", json_schema_extra={"enum": list(FEEDBACK)})
    comment: str | None = Field(None, max_length=2000)

    @field_validator("rating")
    @classmethod
    def _rating(cls, value) -> int:
        text = str(value).strip().lower()
        if text in FEEDBACK_UP:
            return 1
        if text in FEEDBACK_DOWN:
            return -1
        raise ValueError("must be up or down")


def chat_accepted_out(task_id: str, conversation_id: str, message_id: str) -> dict:
    """The chat acknowledgement: the task to poll (Python SDK), the messages to read (widget, CLI)."""
    return {"status": "queued", "task_id": task_id, "conversation_id": conversation_id, "message_id": message_id,
            "status_url": status_url(task_id), "poll_url": f"/api/v1/conversation/{conversation_id}/messages",
            "message": "Message received; answer queued", "estimated_time": 5}


def agent_ref(agent) -> dict | None:
    if agent is None:
        return None
    return {"id": sid(agent.id), "name": agent.name, "description": agent.description,
            "avatar_url": agent.avatar_url, "status": agent.status}


def conversation_out(conv, agent=None) -> dict:
    return {
        "id": sid(conv.id), "company_id": sid(conv.company_id), "agent_id": sid(conv.agent_id),
        "agent": agent_ref(agent), "entity_type": conv.entity_type, "entity_id": sid(conv.entity_id),
        "title": conv.title, "status": "deleted" if conv.deleted_at else conv.status,
        "metadata": conv.extra_metadata or {}, "max_context_length": conv.max_context_length,
        "context_strategy": conv.context_strategy, "message_count": conv.message_count,
        "total_tokens": conv.total_tokens, "tags": conv.tags or [], "lead_satisfaction": conv.lead_satisfaction,
        "conversion_outcome": conv.conversion_outcome, "last_activity": iso(conv.last_activity),
        "ended_at": iso(conv.ended_at), "archived_at": iso(conv.archived_at), "created_at": iso(conv.created_at),
        "updated_at": iso(conv.updated_at), "deleted_at": iso(conv.deleted_at),
    }


def message_out(msg, *, visitor: bool = False) -> dict:
    """`visitor=True` (lead tokens) leaves out what only staff may read (a provider's raw error)."""
    meta = dict(msg.extra_metadata or {})
    if visitor:
        meta.pop("error_detail", None)
    if msg.role == "assistant":
        meta.setdefault("all_sources", [])
        meta.setdefault("cited_sources", [])
        meta.setdefault("citation_warnings", [])
    feedback = {1: "up", -1: "down"}.get(msg.user_feedback)
    return {
        "id": sid(msg.id), "conversation_id": sid(msg.conversation_id), "agent_id": sid(msg.agent_id),
        "role": msg.role, "content": msg.content, "content_type": msg.content_type, "status": msg.status,
        "model_used": msg.model_used, "processing_time": msg.processing_time, "tokens_used": msg.tokens_used,
        "confidence_score": msg.confidence_score, "user_feedback": feedback, "feedback_comment": msg.feedback_comment,
        "answered": msg.answered, "context_used": msg.context_used, "metadata": meta, "sources": msg.sources or [],
        "reply_to_id": sid(msg.reply_to_id), "created_at": iso(msg.created_at), "updated_at": iso(msg.updated_at),
        "deleted_at": iso(msg.deleted_at),
    }


class AgentRefOut(Open):
    id: uuid.UUID
    name: str
    description: str | None
    avatar_url: str | None
    status: str


class ConversationOut(Open):
    """`conversation_out`; `status` reads `deleted` once soft-deleted."""

    id: uuid.UUID
    company_id: uuid.UUID
    agent_id: uuid.UUID
    agent: AgentRefOut | None
    entity_type: str
    entity_id: uuid.UUID | None
    title: str | None
    status: str
    metadata: dict[str, Any]
    max_context_length: int | None
    context_strategy: str | None
    message_count: int | None
    total_tokens: int | None
    tags: list[Any]
    lead_satisfaction: float | None
    conversion_outcome: str | None
    last_activity: datetime | None
    ended_at: datetime | None
    archived_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    deleted_at: datetime | None


class ChatMessageOut(Open):
    """`message_out`: assistant replies carry `all_sources`/`cited_sources`/`citation_warnings` in `metadata`."""

    id: uuid.UUID
    conversation_id: uuid.UUID
    agent_id: uuid.UUID | None
    role: Literal["user", "assistant", "system"]
    content: str | None
    content_type: str | None
    status: str
    model_used: str | None
    processing_time: float | None
    tokens_used: int | None
    confidence_score: float | None
    user_feedback: Literal["up", "down"] | None
    feedback_comment: str | None
    answered: bool | None
    context_used: Any
    metadata: dict[str, Any]
    sources: list[Any]
    reply_to_id: uuid.UUID | None
    created_at: datetime | None
    updated_at: datetime | None
    deleted_at: datetime | None


class ConversationCreatedOut(Open):
    conversation: ConversationOut
    id: uuid.UUID
    message: str


class ConversationListOut(Open):
    conversations: list[ConversationOut]
    data: list[ConversationOut]
    pagination: Pagination


class DeletedConversationsOut(ConversationListOut):
    deleted_conversations: list[ConversationOut]


class MessageListOut(Open):
    messages: list[ChatMessageOut]
    pagination: Pagination
    conversation: ConversationOut
    title: str | None


class MessagesDeletedOut(Open):
    message: str
    conversation_id: uuid.UUID
    deleted_messages_count: int = Field(ge=0)


class MessagesRestoredOut(Open):
    message: str
    conversation_id: uuid.UUID
    restored_messages_count: int = Field(ge=0)


class ChatAcceptedOut(Open):
    """A chat message was stored and its answer queued: follow the stream or poll."""

    status: Literal["queued"]
    task_id: uuid.UUID
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    status_url: str
    poll_url: str
    message: str
    estimated_time: int


class MessageChangedOut(Open):
    message: str
    message_id: uuid.UUID


class DeletedMessagesOut(Open):
    deleted_messages: list[ChatMessageOut]
    messages: list[ChatMessageOut]
    total: int = Field(ge=0)


class RatedOut(Open):
    conversation: ConversationOut


class FeedbackOut(Open):
    message: str
    message_id: uuid.UUID
    user_feedback: Literal["up", "down"] | None
    feedback_comment: str | None
