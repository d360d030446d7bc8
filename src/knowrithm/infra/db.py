"""Database handle and the column mixins every model shares."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, String, Uuid, func
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

# Deterministic constraint names keep Alembic migrations stable.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base, engine_options={"pool_pre_ping": True})


class UUIDPk:
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, server_default=func.now(), nullable=False
    )


class SoftDelete:
    """Rows are hidden from every query while `deleted_at` is set (see infra.tenancy)."""

    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)

    def soft_delete(self) -> None:
        self.deleted_at = utcnow()

    def restore(self) -> None:
        self.deleted_at = None


class TenantOwned:
    """Rows that belong to one company; every ORM query is filtered by infra.tenancy."""

    @declared_attr
    def company_id(cls) -> Mapped[uuid.UUID]:  # noqa: N805
        from sqlalchemy import ForeignKey

        return mapped_column(Uuid, ForeignKey("companies.id", ondelete="CASCADE"), index=True, nullable=False)


class CatalogOwned:
    """Rows of the platform catalog (`company_id` NULL) or one company's own additions."""

    @declared_attr
    def company_id(cls) -> Mapped[uuid.UUID | None]:  # noqa: N805
        from sqlalchemy import ForeignKey

        return mapped_column(Uuid, ForeignKey("companies.id", ondelete="CASCADE"), index=True, nullable=True)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def sid(value: uuid.UUID | None) -> str | None:
    return str(value) if value else None


__all__ = ["db", "Base", "UUIDPk", "Timestamps", "SoftDelete", "TenantOwned", "CatalogOwned", "utcnow", "iso", "sid", "String"]
