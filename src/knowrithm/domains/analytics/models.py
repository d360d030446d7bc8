"""The API request log (one row per logged request) and its hourly and daily rollups."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import DateTime, Float, Index, Integer, Interval, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from knowrithm.infra.db import Base, UUIDPk, utcnow


class ApiRequestLog(UUIDPk, Base):
    """One row per authenticated request: API key, user JWT or widget visitor (`auth_type`
    `api_key | user | lead`); feeds the API-usage analytics, sessions and client IPs."""

    __tablename__ = "api_request_logs"
    __table_args__ = (Index("ix_api_request_logs_company_created", "company_id", "created_at"),)

    company_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    method: Mapped[str] = mapped_column(String(10), nullable=False)
    endpoint: Mapped[str] = mapped_column(String(255), nullable=False)
    status_code: Mapped[int] = mapped_column(Integer, nullable=False)
    response_time_ms: Mapped[float] = mapped_column(Float, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    auth_type: Mapped[str | None] = mapped_column(String(16))
    lead_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The client's address as the trusted-proxy rule resolved it (request.remote_addr).
    ip_address: Mapped[str | None] = mapped_column(String(45))


class ApiUsageRollup(UUIDPk, Base):
    """Request-log aggregates per hour and per day (beat: analytics.tasks), so dashboards read
    a few rows per period instead of every request."""

    __tablename__ = "api_usage_rollups"
    __table_args__ = (Index("ix_api_usage_rollups_period", "granularity", "period_start", "company_id"),)

    granularity: Mapped[str] = mapped_column(String(8), nullable=False)  # hour | day
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    company_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    auth_type: Mapped[str | None] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(10), nullable=False)
    endpoint: Mapped[str] = mapped_column(String(255), nullable=False)
    requests: Mapped[int] = mapped_column(Integer, nullable=False)
    errors: Mapped[int] = mapped_column(Integer, nullable=False)
    total_ms: Mapped[float] = mapped_column(Float, nullable=False)
    max_ms: Mapped[float] = mapped_column(Float, nullable=False)


class SessionRollup(UUIDPk, Base):
    """One caller's requests in one hour, summarised so that sessions (analytics.activity) join
    across hours without the raw rows: first and last request, and the gaps longer than the
    session gap inside the hour (how many, and their total length). The caller is the lead, or
    the user when there is no lead, as in the request log."""

    __tablename__ = "session_rollups"
    __table_args__ = (Index("ix_session_rollups_company_period", "company_id", "period_start"),)

    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    company_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    lead_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    first_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    breaks: Mapped[int] = mapped_column(Integer, nullable=False)
    break_time: Mapped[timedelta] = mapped_column(Interval, nullable=False)


class ClientIpRollup(UUIDPk, Base):
    """The client addresses seen per hour and per day (with the user or lead, so erasing a person
    erases their addresses here too)."""

    __tablename__ = "client_ip_rollups"
    __table_args__ = (Index("ix_client_ip_rollups_company_period", "company_id", "granularity", "period_start"),)

    granularity: Mapped[str] = mapped_column(String(8), nullable=False)  # hour | day
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    company_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    lead_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    ip_address: Mapped[str] = mapped_column(String(45), nullable=False)
