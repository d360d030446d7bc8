"""Test harness: a throwaway embedded PostgreSQL (pgvector), real Redis, the app served on a
loopback port, a real Celery worker, two companies, and `knowrithm-py` clients."""
from __future__ import annotations

import os
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from werkzeug.serving import make_server

from knowrithm.config import Settings
from knowrithm.infra.embedded import EmbeddedPostgres, EmbeddedRedis

SUPER_ADMIN_PASSWORD = "Sup3r-Secret-Pass!"


@pytest.fixture(scope="session")
def tmp_root():
    with tempfile.TemporaryDirectory(prefix="knowrithm-test-") as d:
        yield Path(d)


@pytest.fixture(scope="session")
def database_uri(tmp_root):
    pg = EmbeddedPostgres(tmp_root / "pg")
    uri = pg.start("knowrithm_test")
    yield uri
    pg.stop()


def _claim_redis_db(base: str) -> tuple[int, redis.Redis]:
    """Concurrent test runs share one Redis server; each claims its own database number."""
    lock = redis.Redis.from_url(f"{base}/0", socket_connect_timeout=1)
    for n in range(1, 16):
        if lock.set(f"knowrithm-test-db-lock:{n}", os.getpid(), nx=True, ex=3 * 3600):
            return n, lock
    raise RuntimeError("no free Redis database for the test run")


@pytest.fixture(scope="session")
def redis_url(tmp_root):
    base = os.environ.get("TEST_REDIS_BASE", "redis://127.0.0.1:6379")
    embedded = None
    try:
        redis.Redis.from_url(f"{base}/0", socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        embedded = EmbeddedRedis(tmp_root / "redis")
        base = embedded.start().rsplit("/", 1)[0]
    n, lock = _claim_redis_db(base)
    url = f"{base}/{n}"
    redis.Redis.from_url(url).flushdb()
    yield url
    redis.Redis.from_url(url).flushdb()
    lock.delete(f"knowrithm-test-db-lock:{n}")
    if embedded:
        embedded.stop()


@pytest.fixture(scope="session")
def settings(database_uri, redis_url, tmp_root):
    return Settings(
        _env_file=None,
        SQLALCHEMY_DATABASE_URI=database_uri, REDIS_URL=redis_url,
        SECRET_KEY="test-secret-key-0123456789abcdef", JWT_SECRET_KEY="test-jwt-key-0123456789abcdef-0123456789",
        SUPER_ADMIN_EMAIL="root@knowrithm.test", SUPER_ADMIN_PASSWORD=SUPER_ADMIN_PASSWORD,
        UPLOAD_FOLDER=str(tmp_root / "uploads"), MAX_FILE_SIZE=2 * 1024 * 1024, LOG_JSON=False,
        LOG_LEVEL="WARNING", BASE_URL="http://127.0.0.1", ALLOW_PRIVATE_URLS=True,
    )


@pytest.fixture(scope="session")
def app(settings):
    from knowrithm.app import create_app
    from knowrithm.bootstrap import bootstrap

    app = create_app(settings)
    with app.app_context():
        bootstrap(app)
    return app


@pytest.fixture(scope="session")
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="session")
def celery_worker(app):
    """A real Celery worker (thread pool) consuming the platform's queues from real Redis."""
    from celery.contrib.testing.worker import start_worker

    from knowrithm.domains.system.health import start_worker_heartbeat
    from knowrithm.worker import WORKER_QUEUES

    celery = app.extensions["celery"]
    with start_worker(celery, pool="threads", concurrency=4, perform_ping_check=False, loglevel="WARNING",
                      queues=WORKER_QUEUES.split(","), shutdown_timeout=10) as worker:
        stop = start_worker_heartbeat(app.extensions["redis"], hostname="pytest-worker")
        global _WORKER_STARTED
        _WORKER_STARTED = True
        yield worker
        stop.set()


_WORKER_STARTED = False


def _wait_for_idle_worker(app, timeout: float = 30.0) -> None:
    """Tasks a test queued may still run after it ends; truncating under them deadlocks or
    leaves their late writes for the next test. Wait until the in-process worker is idle."""
    import time

    from celery.worker import state

    from knowrithm.infra.tasks import QUEUES

    if not _WORKER_STARTED:
        return
    r = redis.Redis.from_url(app.config["SETTINGS"].broker_url)
    deadline = time.time() + timeout
    while time.time() < deadline:
        queued = sum(r.llen(q) for q in QUEUES if q != "dead_letter")
        if not state.active_requests and not state.reserved_requests and not queued:
            return
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def clean_db(app):
    """Every test starts from an empty platform: the super admin and the reference catalog only."""
    yield
    from knowrithm.domains.auth.service import ensure_super_admin
    from knowrithm.infra.db import db

    keep = {"alembic_version", "countries", "states", "cities", "providers", "provider_models"}
    _wait_for_idle_worker(app)
    from knowrithm.domains.auth import request_log

    with request_log._lock:  # this test's request-log records not yet pushed to Redis
        request_log._pending.clear()
    with app.app_context():
        tables = [t.name for t in db.metadata.sorted_tables if t.name not in keep]
        for attempt in range(5):
            try:
                db.session.execute(text("SET LOCAL lock_timeout = '5s'"))
                db.session.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
                db.session.execute(text("DELETE FROM providers WHERE company_id IS NOT NULL"))
                db.session.commit()
                break
            except OperationalError:  # a straggling task held a lock: let it finish, try again
                db.session.rollback()
                if attempt == 4:
                    raise
                _wait_for_idle_worker(app)
        # TRUNCATE companies CASCADE also empties providers/provider_models (their company_id
        # references companies), so the platform catalog is re-seeded (idempotent, a few ms).
        from knowrithm.domains.llm.seed import seed as seed_llm_catalog

        seed_llm_catalog()
        ensure_super_admin(app.config["SETTINGS"])
        db.session.remove()
    # Only the platform's own keys: the Celery broker shares this Redis database.
    r = app.extensions["redis"]
    stale = [k for k in r.scan_iter("knowrithm:*") if k != "knowrithm:workers"]
    if stale:
        r.delete(*stale)


@dataclass
class Tenant:
    company_id: uuid.UUID
    admin_id: uuid.UUID
    admin_email: str
    password: str


def make_tenant(app, name: str) -> Tenant:
    from knowrithm.domains.auth.models import User
    from knowrithm.domains.auth.passwords import hash_password
    from knowrithm.domains.companies.models import Company
    from knowrithm.infra.db import db

    with app.app_context():
        company = Company(name=name, email=f"contact@{name.lower()}.test")
        db.session.add(company)
        db.session.flush()
        password = "Passw0rd!" + name
        user = User(company_id=company.id, email=f"admin@{name.lower()}.test", username=f"admin_{name.lower()}",
                    first_name="Ada", last_name=name, role="admin", status="active", email_verified=True,
                    password_hash=hash_password(password))
        db.session.add(user)
        db.session.commit()
        tenant = Tenant(company.id, user.id, user.email, password)
        db.session.remove()
        return tenant


@pytest.fixture
def companies(app):
    """Two companies, always: tenant isolation is tested against the second one."""
    return make_tenant(app, "Acme"), make_tenant(app, "Globex")


def make_api_key(app, tenant: Tenant, scopes=("full_access",), name="test key") -> tuple[str, str]:
    """An API key/secret pair acting for the tenant's admin."""
    from knowrithm.domains.auth.api_keys import create_api_key
    from knowrithm.domains.auth.models import User
    from knowrithm.infra.db import db

    with app.app_context():
        user = db.session.get(User, tenant.admin_id)
        row, secret = create_api_key(user=user, name=name, scopes=list(scopes))
        key = row.key
        db.session.remove()
    return key, secret


@pytest.fixture
def sdk_factory(live_server):
    from knowrithm_py.dataclass.config import KnowrithmConfig
    from knowrithm_py.knowrithm.client import KnowrithmClient

    def make(api_key: str = "ak_none", api_secret: str = "as_none") -> KnowrithmClient:
        config = KnowrithmConfig(base_url=f"{live_server}/api", task_poll_interval=0.1, task_poll_timeout=60,
                                 max_retries=1, timeout=30)
        return KnowrithmClient(api_key=api_key, api_secret=api_secret, config=config)

    return make


@pytest.fixture
def sdk_for(app, sdk_factory):
    """`sdk_for(tenant, scopes=("read",))` -> a KnowrithmClient authenticated with a fresh API key."""

    def make(tenant: Tenant, scopes=("full_access",)):
        return sdk_factory(*make_api_key(app, tenant, scopes))

    return make


@pytest.fixture
def sdk_a(companies, sdk_for):
    return sdk_for(companies[0])


@pytest.fixture
def sdk_b(companies, sdk_for):
    return sdk_for(companies[1])


# A task that always fails, registered before the worker starts (tests the dead-letter path).
from celery import shared_task  # noqa: E402


@shared_task(name="knowrithm.tests.always_fails", autoretry_for=(RuntimeError,), max_retries=1,
             default_retry_delay=0)
def always_fails(**_):
    raise RuntimeError("boom: this task always fails")


@pytest.fixture
def http(live_server):
    """A plain requests session against the live server (for non-SDK checks)."""
    import requests

    class Http(requests.Session):
        def request(self, method, url, *args, **kwargs):
            return super().request(method, live_server + url, *args, **kwargs)

    with Http() as s:
        yield s


@pytest.fixture
def super_admin_token(http):
    resp = http.post("/api/v1/auth/login", json={"email": "root@knowrithm.test", "password": SUPER_ADMIN_PASSWORD})
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


def poll_task(http, status_url: str, headers=None, timeout: float = 30.0) -> dict:
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        body = http.get(status_url, headers=headers or {}).json()
        if body.get("status") in ("completed", "failed"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"task did not finish: {body}")


@pytest.fixture
def agent_ids(app, companies):
    """One bare agent in each company (created directly, for domains that only need an owner)."""
    from knowrithm.domains.agents.models import Agent
    from knowrithm.infra.db import db

    with app.app_context():
        a = Agent(company_id=companies[0].company_id, name="Helper A")
        b = Agent(company_id=companies[1].company_id, name="Helper B")
        db.session.add_all([a, b])
        db.session.commit()
        ids = str(a.id), str(b.id)
        db.session.remove()
    return ids
