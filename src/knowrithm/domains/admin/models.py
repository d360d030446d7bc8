"""Platform configuration rows (`SystemConfig`): platform-wide defaults and company overrides."""
from __future__ import annotations

import uuid

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from knowrithm.infra.db import Base, Timestamps, UUIDPk


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
