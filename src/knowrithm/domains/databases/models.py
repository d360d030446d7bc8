"""Customer database connections (credentials encrypted) and the tables analysed from them."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from knowrithm.infra.db import Base, SoftDelete, TenantOwned, Timestamps, UUIDPk


class DatabaseConnection(UUIDPk, Timestamps, SoftDelete, TenantOwned, Base):
    """A customer database the agent may query. The URL is stored Fernet-encrypted only."""

    __tablename__ = "database_connections"

    agent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("agents.id", ondelete="SET NULL"), index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    database_type: Mapped[str] = mapped_column(String(30), nullable=False)
    url_encrypted: Mapped[str] = mapped_column(Text, nullable=False)
    host: Mapped[str | None] = mapped_column(String(255))
    connection_params: Mapped[dict] = mapped_column(JSON, default=dict, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    last_tested: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    test_result: Mapped[str | None] = mapped_column(Text)
    semantic_snapshot: Mapped[dict | None] = mapped_column(JSON)
    knowledge_graph: Mapped[dict | None] = mapped_column(JSON)
    sample_queries: Mapped[list | None] = mapped_column(JSON)
    last_analyzed: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DatabaseTable(UUIDPk, Timestamps, SoftDelete, TenantOwned, Base):
    __tablename__ = "database_tables"

    connection_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("database_connections.id", ondelete="CASCADE"),
                                                     index=True, nullable=False)
    table_name: Mapped[str] = mapped_column(String(255), nullable=False)
    schema_name: Mapped[str | None] = mapped_column(String(255))
    table_type: Mapped[str | None] = mapped_column(String(40))
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    table_size: Mapped[int | None] = mapped_column(BigInteger)
    columns_info: Mapped[list] = mapped_column(JSON, default=list, nullable=False)
    relationships: Mapped[list] = mapped_column(JSON, default=list, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    last_analyzed: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
