"""The lead table: a visitor who registered through the widget or was added by the company."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from knowrithm.infra.db import Base, SoftDelete, TenantOwned, Timestamps, UUIDPk


class Lead(UUIDPk, Timestamps, SoftDelete, TenantOwned, Base):
    __tablename__ = "leads"
    __table_args__ = (UniqueConstraint("company_id", "email", name="uq_leads_company_email"),)

    agent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("agents.id", ondelete="SET NULL"), index=True)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(255), nullable=False)
    phone: Mapped[str | None] = mapped_column(String(50))
    source: Mapped[str | None] = mapped_column(String(100))
    notes: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="new", nullable=False, index=True)
    consent_data_processing: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    consent_marketing: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    last_activity: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    extra_metadata: Mapped[dict] = mapped_column("metadata", JSON, default=dict, nullable=False)
