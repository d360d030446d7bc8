"""The platform's database pool through pgBouncer in transaction mode (deploy/pgbouncer/pgbouncer.ini).

With PGBOUNCER_TRANSACTION_MODE the app serves concurrent requests over a pool of two server
connections; without it, psycopg's automatic server-side prepared statements collide on a shared
server connection (the failure the setting exists for)."""
from __future__ import annotations

import sys
import threading
import uuid
from pathlib import Path

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from cluster import PgBouncer, pgbouncer_binary  # noqa: E402


@pytest.fixture
def bouncer(database_uri):
    if pgbouncer_binary() is None:
        pytest.skip("pgbouncer is not installed (scripts/test.sh installs Debian's pgbouncer when run as root)")
    socket_dir = database_uri.split("host=", 1)[1]
    database = database_uri.split("?", 1)[0].rsplit("/", 1)[1]
    bouncer = PgBouncer(socket_dir, database, pool_size=2).start()
    yield bouncer, database
    bouncer.stop()


def test_default_prepared_statements_collide_through_transaction_pooling(bouncer):
    b, database = bouncer
    conns = [psycopg.connect(b.url("knowrithm"), autocommit=True)
             for _ in range(2)]
    try:
        with pytest.raises(psycopg.errors.DuplicatePreparedStatement):
            for _ in range(10):  # psycopg prepares a statement on its 5th execution
                for conn in conns:
                    conn.execute("SELECT 1 WHERE %s::int > 0", (1,)).fetchone()
    finally:
        for conn in conns:
            conn.close()


def test_the_session_pool_hands_the_next_client_a_clean_server_connection(bouncer):
    """A worker killed mid-task leaves its prepared statements and session advisory locks on the
    server connection; the next client of the session pool (pool size 2, so it may get that very
    connection) must neither collide with the statements nor find the lock taken."""
    b, database = bouncer
    backends = set()
    for _ in range(4):
        with psycopg.connect(b.url("knowrithm_session"), autocommit=True, prepare_threshold=0) as conn:
            backends.add(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
            conn.execute("SELECT 1 WHERE %s::int > 0", (1,)).fetchone()  # prepared as _pg3_0
            assert conn.execute("SELECT pg_try_advisory_lock(4242)").fetchone()[0] is True
            # disconnect without unlocking or deallocating, as a SIGKILLed worker would
    assert len(backends) < 4  # server connections were reused by the later clients


def test_the_app_works_through_pgbouncer_in_transaction_mode(bouncer, settings, app):
    from knowrithm.app import create_app

    b, database = bouncer
    from knowrithm.config import Settings

    pooled = Settings(_env_file=None, **{**settings.model_dump(), "SQLALCHEMY_DATABASE_URI": b.url("knowrithm"),
                                         "PGBOUNCER_TRANSACTION_MODE": True, "SQLALCHEMY_POOL_SIZE": 8})
    pooled_app = create_app(pooled)
    app.extensions["celery"].set_default()  # shared_task proxies keep following the session's app
    client_errors: list[str] = []
    tag = uuid.uuid4().hex[:8]

    def company(n: int):
        c = pooled_app.test_client()
        try:
            for i in range(3):
                email = f"owner{n}-{i}-{tag}@pool.test"
                reg = c.post("/api/v1/auth/register", json={
                    "first_name": "Pat", "last_name": "Pool", "email": email, "password": "Pool-Passw0rd!x",
                    "company_name": f"Pool {n}-{i} {tag}", "accept_terms": True})
                if reg.status_code != 201:
                    client_errors.append(f"register {reg.status_code} {reg.get_data(as_text=True)[:300]}")
                    continue
                token = reg.get_json()["access_token"]
                for _ in range(8):  # the same statements, many times: would be prepared by default
                    me = c.get("/api/v1/auth/user/me", headers={"Authorization": f"Bearer {token}"})
                    if me.status_code != 200:
                        client_errors.append(f"me {me.status_code} {me.get_data(as_text=True)[:300]}")
        except Exception as exc:  # noqa: BLE001 - reported below
            client_errors.append(repr(exc))

    threads = [threading.Thread(target=company, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert not client_errors, client_errors[:5]
    with pooled_app.app_context():
        from knowrithm.infra.db import db

        raw = db.engine.raw_connection()
        try:
            assert raw.driver_connection.prepare_threshold is None
        finally:
            raw.close()
        db.engine.dispose()
    # The traffic went through pgBouncer, in transaction mode, on at most two server connections.
    pools = {row[0]: row for row in b.admin("SHOW POOLS")}
    assert "knowrithm" in pools
    stats = {row[0]: row for row in b.admin("SHOW STATS")}
    assert stats["knowrithm"][1] >= 6 * 3 * 8  # total_xact_count
    servers = [row for row in b.admin("SHOW SERVERS") if row[3] == "knowrithm"]
    assert len(servers) <= 2
