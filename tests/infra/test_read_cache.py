"""Reads served from process memory are invalidated by every committed write to their tables,
wherever it comes from: the ORM, a bulk statement, raw SQL, an autocommit connection, another
process. Rolled-back writes invalidate nothing; without Redis nothing is served from memory.
"""
from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
import redis
from sqlalchemy import func, select, text, update

from knowrithm.domains.companies.models import Company
from knowrithm.infra import read_cache
from knowrithm.infra.db import db
from knowrithm.infra.read_cache import ALL, Generations, ReadCache, written_tables


@pytest.mark.parametrize("statement, tables", [
    ("INSERT INTO companies (id) VALUES (%(id)s)", {"companies"}),
    ('UPDATE "api_keys" SET usage_count = 1', {"api_keys"}),
    ("DELETE FROM public.messages WHERE id = 1", {"messages"}),
    ("  update ONLY agents set name = 'x'", {"agents"}),
    ("TRUNCATE TABLE documents", {"documents"}),
    ("COPY document_chunks FROM STDIN", {"document_chunks"}),
    ("WITH gone AS (DELETE FROM messages RETURNING id) SELECT count(*) FROM gone", {ALL}),
    ("CREATE INDEX CONCURRENTLY ix ON agents (name)", {ALL}),
    ("DO $$ BEGIN PERFORM 1; END $$", {ALL}),
    ("SELECT id FROM agents FOR UPDATE", set()),
    ("WITH x AS (SELECT 1) SELECT * FROM x", set()),
    ("SAVEPOINT sa_savepoint_1", set()),
    ("SET LOCAL lock_timeout = '1s'", set()),
])
def test_statements_are_classified_by_the_tables_they_write(statement, tables):
    assert written_tables(statement) == tables


@pytest.fixture
def company_names(app):
    """A cache of the company count and a counter of how often it had to read the database."""
    loads = []
    cache = ReadCache("test.companies", [Company])
    with app.app_context():  # the previous test's cleanup removed the generations, epoch included
        app.extensions["redis"].hsetnx(read_cache.TABLEGEN_KEY, read_cache.EPOCH, "test")

    def read() -> int:
        def load():
            loads.append(1)
            return db.session.execute(select(func.count()).select_from(Company)
                                      .execution_options(all_companies=True)).scalar_one()
        with app.test_request_context("/api/v1/agent", method="GET"):
            value = cache.get("all", load)
            db.session.remove()
        return value

    return read, loads


def _add_company(app, *, commit: bool = True) -> None:
    with app.app_context():
        name = uuid.uuid4().hex[:10]
        db.session.add(Company(name=name, email=f"{name}@cache.test"))
        db.session.commit() if commit else db.session.rollback()
        db.session.remove()


def test_an_orm_commit_invalidates_and_a_rollback_does_not(app, company_names):
    read, loads = company_names
    before = read()
    assert read() == before and len(loads) == 1  # served from memory
    _add_company(app, commit=False)
    assert read() == before and len(loads) == 1  # nothing was committed
    _add_company(app)
    assert read() == before + 1 and len(loads) == 2


def test_bulk_and_raw_sql_writes_invalidate(app, company_names):
    read, loads = company_names
    _add_company(app)
    count = read()
    with app.app_context():
        db.session.execute(update(Company).where(Company.email.like("%@cache.test")).values(name="bulk")
                           .execution_options(synchronize_session=False))
        db.session.commit()
        db.session.remove()
    assert read() == count and len(loads) == 2  # a bulk UPDATE bumped the table
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("INSERT INTO companies (id, name, email, status, is_active, is_verified, settings, "
                          "created_at, updated_at) VALUES (gen_random_uuid(), 'raw', 'raw@cache.test', 'active', "
                          "true, false, '{}', now(), now())"))
    assert read() == count + 1 and len(loads) == 3
    with app.app_context(), db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("DELETE FROM companies WHERE email = 'raw@cache.test'"))
    assert read() == count and len(loads) == 4


def test_a_write_in_another_process_invalidates(app, company_names, settings):
    """Another node: its own engine and the same Redis."""
    read, loads = company_names
    count = read()
    same = {k: getattr(settings, k) for k in ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "SECRET_KEY", "JWT_SECRET_KEY")}
    script = (
        "from knowrithm.app import create_app\n"
        "from knowrithm.config import Settings\n"
        "from knowrithm.infra.db import db\n"
        "from knowrithm.domains.companies.models import Company\n"
        f"app = create_app(Settings(_env_file=None, **{same!r}))\n"
        "with app.app_context():\n"
        "    db.session.add(Company(name='other node', email='other@cache.test'))\n"
        "    db.session.commit()\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert read() == count + 1 and len(loads) == 2


def test_without_redis_every_read_goes_to_the_database(app):
    down = Generations(lambda: redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2))
    cache = ReadCache("test.down", ["companies"], source=lambda: down)
    loads = []
    assert [cache.get("k", lambda: loads.append(1) or len(loads)) for _ in range(3)] == [1, 2, 3]
    down.bump(["companies"])  # fails: kept for the next call
    assert down._pending == {"companies"}


def test_a_redis_that_lost_its_data_invalidates_everything(app, company_names):
    read, loads = company_names
    read()
    read()
    assert len(loads) == 1
    with app.app_context():
        app.extensions["redis"].delete(read_cache.TABLEGEN_KEY)  # as after a restart without persistence
    read()
    read()
    assert len(loads) == 3  # no epoch: read from the database, which starts a new one; then cached again
    read()
    assert len(loads) == 3


def test_an_entry_expires_with_its_own_deadline(app):
    import time

    cache = ReadCache("test.until", ["companies"])
    loads = []
    with app.app_context():
        for _ in range(2):
            cache.get("k", lambda: loads.append(1), until=lambda _: time.time() - 1)
    assert len(loads) == 2


@pytest.mark.parametrize("credential", ["api_key", "jwt"])
def test_an_authenticated_read_uses_the_snapshot_taken_with_its_credentials(app, companies, http, monkeypatch,
                                                                             credential):
    """The generations ride in authentication's own Redis round trip (the key's counters or the
    token's revocation check): a cached read sends no Redis command of its own, and a write is
    still seen by the next request."""
    from tests.conftest import make_api_key

    tenant = companies[0]
    if credential == "api_key":
        key, secret = make_api_key(app, tenant, scopes=("read", "write"))
        headers = {"X-API-Key": key, "X-API-Secret": secret}
    else:
        login = http.post("/api/v1/auth/login", json={"email": tenant.admin_email, "password": tenant.password})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    own_reads = []
    real_read = Generations.read
    monkeypatch.setattr(Generations, "read", lambda self, tables: own_reads.append(tables) or real_read(self, tables))
    for _ in range(3):
        assert http.get("/api/v1/agent", headers=headers).status_code == 200
    assert own_reads == []
    with app.app_context():
        db.session.execute(update(Company).where(Company.id == tenant.company_id).values(name="Seen at once"))
        db.session.commit()
        db.session.remove()
    assert http.get("/api/v1/auth/validate", headers=headers).json()["company"]["name"] == "Seen at once"
    assert own_reads == []


def test_concurrent_misses_load_once(app):
    """After a write, the requests in flight share one database read instead of each making it."""
    import threading
    import time

    cache = ReadCache("test.flight", ["companies"])
    loads = []

    def slow_load():
        loads.append(1)
        time.sleep(0.3)
        return "value"

    def read(out):
        with app.app_context():
            app.extensions["redis"].hsetnx(read_cache.TABLEGEN_KEY, read_cache.EPOCH, "test")
            out.append(cache.get("k", slow_load))

    out: list = []
    threads = [threading.Thread(target=read, args=(out,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == ["value"] * 8 and len(loads) == 1


def test_a_failed_load_is_not_shared(app):
    cache = ReadCache("test.fail", ["companies"])
    with app.app_context():
        app.extensions["redis"].hsetnx(read_cache.TABLEGEN_KEY, read_cache.EPOCH, "test")
        with pytest.raises(RuntimeError):
            cache.get("k", lambda: (_ for _ in ()).throw(RuntimeError("database down")))
        assert cache.get("k", lambda: "recovered") == "recovered"


def test_a_delete_bumps_the_tables_its_foreign_keys_cascade_to(app):
    """Deleting a company deletes its agents in PostgreSQL (ON DELETE CASCADE): a cached agent
    read must not outlive them."""
    from knowrithm.domains.agents.models import Agent

    closure = read_cache.cascades(db.metadata)
    assert {"agents", "users", "documents", "messages"} <= closure["companies"]
    assert "companies" not in closure["agents"]
    with app.app_context():
        gens = app.extensions["redis"]
        company = Company(name="Doomed", email="doomed@cache.test")
        db.session.add(company)
        db.session.flush()
        db.session.add(Agent(company_id=company.id, name="Goes with it"))
        db.session.commit()
        before = gens.hget(read_cache.TABLEGEN_KEY, "agents")
        db.session.execute(text("DELETE FROM companies WHERE id = :id"), {"id": company.id})
        db.session.commit()
        db.session.remove()
        assert gens.hget(read_cache.TABLEGEN_KEY, "agents") != before
