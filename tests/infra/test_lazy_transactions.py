"""GET and HEAD requests read without BEGIN/ROLLBACK; their writes are still transactional.

Each test runs a request context of the real app against the embedded PostgreSQL and reads the
connection's state from PostgreSQL (`now()` is frozen inside a transaction; the driver's
transaction status says whether one is open; a row lock is seen from another connection).
"""
from __future__ import annotations

import uuid

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from knowrithm.domains.companies.models import Company
from knowrithm.infra.db import db


def _status():
    return db.session.connection().connection.dbapi_connection.info.transaction_status


def test_a_get_request_reads_outside_a_transaction(app):
    with app.test_request_context("/api/v1/agent", method="GET"):
        first = db.session.execute(text("SELECT now()")).scalar_one()
        assert _status() == TransactionStatus.IDLE  # no BEGIN was sent, so none to roll back
        db.session.execute(text("SELECT pg_sleep(0.01)"))
        # now() is the transaction's start: it moves because each statement ran on its own.
        assert db.session.execute(text("SELECT now()")).scalar_one() > first
        db.session.remove()


def test_a_post_request_keeps_its_transaction(app):
    with app.test_request_context("/api/v1/agent", method="POST"):
        db.session.execute(text("SELECT 1"))
        assert _status() == TransactionStatus.INTRANS
        db.session.remove()


@pytest.mark.parametrize("finish", ["rollback", "commit"])
def test_a_write_in_a_get_request_opens_a_transaction_first(app, finish):
    name = f"Lazy {uuid.uuid4().hex[:8]}"
    with app.test_request_context("/api/v1/agent", method="GET"):
        db.session.execute(select(Company.id).limit(1)).all()
        assert _status() == TransactionStatus.IDLE
        db.session.add(Company(name=name, email=f"{name.split()[1]}@lazy.test"))
        db.session.add(Company(name=name + " b", email=f"{name.split()[1]}b@lazy.test"))
        db.session.flush()
        assert _status() == TransactionStatus.INTRANS  # both INSERTs inside one transaction
        getattr(db.session, finish)()
        db.session.remove()
    with app.app_context():
        found = db.session.execute(select(Company.name).where(Company.name.like(f"{name}%"))
                                   .execution_options(all_companies=True)).scalars().all()
        assert len(found) == (2 if finish == "commit" else 0)
        db.session.remove()


@pytest.mark.parametrize("statement", [
    "SELECT id FROM companies LIMIT 1 FOR UPDATE",
    "SELECT id FROM companies LIMIT 1 FOR NO KEY UPDATE",
    "SELECT id FROM companies LIMIT 1 FOR SHARE",
    "SELECT pg_advisory_xact_lock(42)",
    "SELECT set_config('application_name', 'lazy', true)",
    "WITH x AS (SELECT 1) SELECT * FROM x",
    "SET LOCAL lock_timeout = '1s'",
])
def test_locks_and_transaction_scoped_statements_get_a_transaction(app, statement):
    with app.test_request_context("/api/v1/agent", method="GET"):
        db.session.execute(text("SELECT 1"))
        assert _status() == TransactionStatus.IDLE
        db.session.execute(text(statement))
        assert _status() == TransactionStatus.INTRANS
        db.session.remove()


def test_a_streamed_read_in_a_get_request_gets_the_transaction_its_cursor_needs(app):
    with app.test_request_context("/api/v1/agent", method="GET"):
        rows = db.session.execute(text("SELECT generate_series(1, 5)").execution_options(stream_results=True,
                                                                                          yield_per=2))
        assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
        assert _status() == TransactionStatus.INTRANS
        db.session.remove()


def test_a_row_lock_in_a_get_request_is_held_until_the_session_ends(app, companies):
    company_id = companies[0].company_id
    with app.test_request_context("/api/v1/agent", method="GET"):
        db.session.execute(select(Company.id).where(Company.id == company_id).with_for_update()
                           .execution_options(all_companies=True)).all()
        with db.engine.connect() as other:
            other.execute(text("SET lock_timeout = '100ms'"))
            with pytest.raises(OperationalError):  # lock_not_available: the row is still locked
                other.execute(text("SELECT id FROM companies WHERE id = :id FOR UPDATE"), {"id": company_id})
        db.session.remove()


def test_the_connection_returns_to_the_pool_in_its_normal_mode(app):
    with app.test_request_context("/api/v1/agent", method="GET"):
        db.session.execute(text("SELECT 1"))
        raw = db.session.connection().connection.dbapi_connection
        assert raw.autocommit is True
        db.session.remove()
    assert raw.autocommit is False
    with app.app_context():  # outside a request (a task, a CLI command): an ordinary transaction
        db.session.execute(text("SELECT 1"))
        assert _status() == TransactionStatus.INTRANS
        db.session.remove()
