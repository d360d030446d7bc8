"""The agent table: a chat agent, its persona and the LLM settings it answers with."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from knowrithm.infra.db import Base, SoftDelete, TenantOwned, Timestamps, UUIDPk


class Agent(UUIDPk, Timestamps, SoftDelete, TenantOwned, Base):
    __tablename__ = "agents"

    name: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    description: Mapped[str | None] = mapped_column(Text)
    avatar_url: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="active", nullable=False, index=True)
    system_prompt: Mapped[str | None] = mapped_column(Text)
    personality_traits: Mapped[dict] = mapped_column(JSON, default=dict, nullable=False)
    capabilities: Mapped[list] = mapped_column(JSON, default=list, nullable=False)
    operating_hours: Mapped[dict] = mapped_column(JSON, default=dict, nullable=False)
    languages: Mapped[list] = mapped_column(JSON, default=list, nullable=False)
    llm_settings_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("llm_settings.id",
                                                                               ondelete="SET NULL"), index=True)
    # The embedding model the agent's chunks were last indexed with; retrieval only
    # compares vectors of this model (see documents search).
    active_embedding_model: Mapped[str | None] = mapped_column(String(200))
    reembed_status: Mapped[str | None] = mapped_column(String(20))
    last_trained: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
