"""Database handle and the column mixins every model shares."""
from __future__ import annotations

import re
import time
import uuid
from datetime import datetime, timezone
from typing import Callable

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, String, Uuid, event, exc, func
from sqlalchemy.engine import Engine
from psycopg.pq import TransactionStatus
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, declared_attr, mapped_column

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


db = SQLAlchemy(model_class=Base)

# Connections idle longer than this are pinged when checked out; busier ones are not.
IDLE_PING_SECONDS = 10.0


def ping_after_idle(engine: Engine, idle_seconds: float = IDLE_PING_SECONDS) -> None:
    """Pessimistic disconnect handling, but only where a disconnect is plausible.

    `pool_pre_ping` sends a `SELECT 1` on every checkout: a whole extra round trip on every
    request that reads the database. A connection returned moments ago is as alive as the
    ping would prove, so only one idle for `idle_seconds` (long enough for a server restart or
    an idle-connection reaper to have closed it) is pinged; a failed ping raises
    DisconnectionError, which makes the pool discard it and connect afresh (SQLAlchemy docs,
    "Disconnect Handling - Pessimistic"). A connection that dies between two busy requests is
    still detected when used: SQLAlchemy invalidates it and the pool reconnects.
    """

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection, record) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection, record, proxy) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # noqa: BLE001  (any failure means: do not hand this one out)
            raise exc.DisconnectionError("connection failed its idle ping") from error


# A statement outside this shape (a write, DDL, SET, a WITH that may write, a row lock, a
# transaction-scoped advisory lock or setting) opens a real transaction first.
_PLAIN_READ = re.compile(r"\s*SELECT\b", re.IGNORECASE)
_NEEDS_TRANSACTION = re.compile(r"\bFOR\s+(?:UPDATE|SHARE|NO\s+KEY|KEY\s+SHARE)\b|_xact_|set_config|;",
                                re.IGNORECASE)
_LAZY = "knowrithm_lazy_transaction"
_IDLE = TransactionStatus.IDLE
_verdicts: dict[str, bool] = {}


def needs_transaction(statement: str) -> bool:
    """Whether `statement` must run inside a transaction. The SQL strings come from
    SQLAlchemy's compiled cache, so the verdict is kept per string (scanning a long SELECT
    case-insensitively costs more than the rest of a cached read's Python)."""
    verdict = _verdicts.get(statement)
    if verdict is None:
        verdict = not _PLAIN_READ.match(statement) or _NEEDS_TRANSACTION.search(statement) is not None
        if len(_verdicts) >= 4096:
            _verdicts.clear()
        _verdicts[statement] = verdict
    return verdict


def lazy_transactions(engine: Engine, applies: Callable[[], bool]) -> None:
    """Plain reads without BEGIN and ROLLBACK while `applies()` (the API: GET and HEAD requests).

    A session's transaction costs two round trips of its own on every request that reads:
    psycopg sends `BEGIN` before the first statement and the pool sends `ROLLBACK` when the
    connection goes back. When `applies()` says so, the session's connection runs in autocommit
    instead, and a `SELECT` executes on its own, exactly as it would as the first statement of a
    READ COMMITTED transaction (each statement takes a fresh snapshot either way). The first
    statement that is not a plain read (a write, a row lock, `SET`, `SAVEPOINT`, an
    xact-scoped advisory lock) switches the connection back to a real transaction *before* it
    runs, so every write a request makes is still atomic and committed or rolled back by the
    session as usual. The connection leaves the pool and returns to it in its normal mode.
    """
    if engine.dialect.driver != "psycopg":
        return

    @event.listens_for(Session, "after_begin")
    def _begin(session, transaction, connection) -> None:
        if connection.engine is not engine or not applies():
            return
        fairy = connection.connection
        raw = fairy.dbapi_connection
        # Already in a transaction (an idle-connection ping, a test's outer transaction) or
        # autocommit on purpose: leave it alone.
        if raw is None or raw.autocommit or raw.info.transaction_status != _IDLE:
            return
        raw.autocommit = True
        fairy.info[_LAZY] = True

    @event.listens_for(engine, "before_cursor_execute")
    def _write_needs_transaction(conn, cursor, statement, parameters, context, executemany) -> None:
        info = conn.connection.info
        # A server-side cursor (stream_results) is a DECLARE, which only lives inside a transaction.
        if info.get(_LAZY) and (needs_transaction(statement) or hasattr(cursor, "name")):
            info.pop(_LAZY)
            conn.connection.dbapi_connection.autocommit = False  # psycopg sends BEGIN before this statement

    @event.listens_for(engine, "checkin")
    def _restore(dbapi_connection, record) -> None:
        if record.info.pop(_LAZY, False) and dbapi_connection is not None:
            dbapi_connection.autocommit = False


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


__all__ = ["db", "ping_after_idle", "lazy_transactions", "Base", "UUIDPk", "Timestamps", "SoftDelete", "TenantOwned", "CatalogOwned", "utcnow", "iso", "sid", "String"]


def after_committed_change(watched: dict[type, tuple[str, ...]], callback, *, key: str) -> None:
    """Run `callback()` after each commit that updated one of the `watched` fields of a model (or
    deleted a row of one), for caches kept outside the database. `key` names the session flag
    that carries the news from the flush to the commit; a rollback drops it."""
    from sqlalchemy import inspect
    from sqlalchemy.orm import Session

    def flag(target) -> None:
        session = Session.object_session(target)
        if session is not None:
            session.info[key] = True

    def updated(mapper, connection, target) -> None:
        attrs = inspect(target).attrs
        if any(attrs[name].history.has_changes() for name in watched[mapper.class_]):
            flag(target)

    def deleted(mapper, connection, target) -> None:
        flag(target)

    for model in watched:
        event.listen(model, "after_update", updated)
        event.listen(model, "after_delete", deleted)

    def committed(session) -> None:
        if session.info.pop(key, False):
            callback()

    def rolled_back(session) -> None:
        session.info.pop(key, None)

    event.listen(Session, "after_commit", committed)
    event.listen(Session, "after_rollback", rolled_back)
