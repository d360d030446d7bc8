from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from knowrithm.infra.db import Base, Timestamps, UUIDPk, utcnow


class AuditLog(UUIDPk, Base):
    """Append-only record of security-relevant events. Written in the transaction of the change."""

    __tablename__ = "audit_logs"
    __table_args__ = (Index("ix_audit_logs_company_created", "company_id", "created_at"),)

    company_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    impersonator_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    user_role: Mapped[str | None] = mapped_column(String(20))
    event_type: Mapped[str] = mapped_column(String(60), nullable=False, index=True)
    event_category: Mapped[str | None] = mapped_column(String(40))
    entity_type: Mapped[str | None] = mapped_column(String(60), index=True)
    entity_id: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    risk_level: Mapped[str] = mapped_column(String(10), default="low", nullable=False, index=True)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict] = mapped_column(JSON, default=dict, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class SystemConfig(UUIDPk, Timestamps, Base):
    """A configuration entry: platform-wide (`company_id` NULL, super admins) or one company's
    override of a key (its admins). One row per key and scope."""

    __tablename__ = "system_configs"
    __table_args__ = (
        Index("uq_system_configs_global_key", "config_key", unique=True, postgresql_where=text("company_id IS NULL")),
        Index("uq_system_configs_company_key", "company_id", "config_key", unique=True),
    )

    company_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("companies.id", ondelete="CASCADE"))
    config_key: Mapped[str] = mapped_column(String(120), nullable=False)
    config_value: Mapped[object | None] = mapped_column(JSON)
    config_type: Mapped[str] = mapped_column(String(20), default="string", nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    is_sensitive: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
