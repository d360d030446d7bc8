"""Conversations and their messages (answers keep their sources and citations)."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, SmallInteger, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from knowrithm.infra.db import Base, SoftDelete, TenantOwned, Timestamps, UUIDPk


class Conversation(UUIDPk, Timestamps, SoftDelete, TenantOwned, Base):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_entity", "entity_type", "entity_id"),)

    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agents.id", ondelete="CASCADE"), index=True,
                                                nullable=False)
    entity_type: Mapped[str] = mapped_column(String(20), default="user", nullable=False)  # user | lead
    entity_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The lead visitor session that started it (see conversations.access); None for staff ones.
    visitor_session_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    title: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), default="active", nullable=False, index=True)
    extra_metadata: Mapped[dict] = mapped_column("metadata", JSON, default=dict, nullable=False)
    max_context_length: Mapped[int] = mapped_column(Integer, default=4000, nullable=False)
    context_strategy: Mapped[str] = mapped_column(String(30), default="recent", nullable=False)
    message_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    tags: Mapped[list] = mapped_column(JSON, default=list, nullable=False)
    lead_satisfaction: Mapped[float | None] = mapped_column(Float)
    conversion_outcome: Mapped[str | None] = mapped_column(String(40))
    last_activity: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Message(UUIDPk, Timestamps, SoftDelete, TenantOwned, Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation_created", "conversation_id", "created_at"),)

    conversation_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("conversations.id", ondelete="CASCADE"),
                                                       nullable=False)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    role: Mapped[str] = mapped_column(String(20), nullable=False)  # user | assistant | system
    content: Mapped[str] = mapped_column(Text, nullable=False)
    content_type: Mapped[str] = mapped_column(String(20), default="text", nullable=False)
    status: Mapped[str] = mapped_column(String(20), default="completed", nullable=False)
    model_used: Mapped[str | None] = mapped_column(String(200))
    processing_time: Mapped[float | None] = mapped_column(Float)
    tokens_used: Mapped[int | None] = mapped_column(Integer)
    confidence_score: Mapped[float | None] = mapped_column(Float)
    user_feedback: Mapped[int | None] = mapped_column(SmallInteger)  # +1 / -1
    feedback_comment: Mapped[str | None] = mapped_column(Text)
    answered: Mapped[bool | None] = mapped_column()  # False when no relevant knowledge was found
    context_used: Mapped[dict | None] = mapped_column(JSON)
    sources: Mapped[list] = mapped_column(JSON, default=list, nullable=False)
    extra_metadata: Mapped[dict] = mapped_column("metadata", JSON, default=dict, nullable=False)
    reply_to_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
