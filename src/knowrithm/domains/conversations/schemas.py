"""Conversation and message request bodies and the objects of CONTRACT §1.12."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from knowrithm.infra.db import iso, sid

MAX_MESSAGE_CHARS = 8000
LIST_STATUSES = ("active", "archived", "deleted", "all")


class ConversationCreateIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    agent_id: str = Field(min_length=1)
    title: str | None = Field(None, max_length=255)
    metadata: dict | None = None
    max_context_length: int | None = Field(None, ge=1000, le=200_000)
    entity_type: str | None = None
    entity_id: str | None = None


class _Page(BaseModel):
    model_config = ConfigDict(extra="allow")
    page: int = Field(1, ge=1)
    per_page: int = Field(20, ge=1, le=100)


def _status(value):
    if value is not None and value not in LIST_STATUSES:
        raise ValueError(f"must be one of {', '.join(LIST_STATUSES)}")
    return value


class ConversationListQuery(_Page):
    status: str | None = None
    agent_id: str | None = None
    search: str | None = Field(None, max_length=200)
    created_before: datetime | None = None
    created_after: datetime | None = None
    entity_type: str | None = None

    _check_status = field_validator("status")(_status)


class EntityListQuery(_Page):
    status: str | None = None
    entity_type: str | None = None

    _check_status = field_validator("status")(_status)


class MessagesQuery(BaseModel):
    model_config = ConfigDict(extra="allow")
    page: int = Field(1, ge=1)
    per_page: int = Field(50, ge=1, le=200)


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    message: str = Field(max_length=MAX_MESSAGE_CHARS)

    @field_validator("message")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    rating: str | int = Field(description="up/down, like/dislike, 1/-1")
    comment: str | None = Field(None, max_length=2000)

    @field_validator("rating")
    @classmethod
    def _rating(cls, value) -> int:
        text = str(value).strip().lower()
        if text in ("up", "like", "thumbs_up", "positive", "1", "+1", "true"):
            return 1
        if text in ("down", "dislike", "thumbs_down", "negative", "-1", "false"):
            return -1
        raise ValueError("must be up or down")


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


def message_out(msg) -> dict:
    meta = dict(msg.extra_metadata or {})
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
