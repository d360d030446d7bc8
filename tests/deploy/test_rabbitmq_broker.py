"""RabbitMQ as the Celery broker (CELERY_BROKER_URL=amqp://...), on the machine's RabbitMQ in a
virtual host of its own: tasks round-trip, and a worker killed with SIGKILL mid-ingestion has its
message requeued by RabbitMQ as soon as its connection drops (no visibility timeout), so the
document ends `processed` with every chunk once after the worker is started again."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

from tests.documents.conftest import create_agent
from tests.documents.test_worker_killed import _row

TEXT = "\n\n".join(f"Section {i}. The warranty clause number {i} covers part {i * 7} of the frame and explains "
                   f"how claim {i} is filed, reviewed and paid. " * 3 for i in range(600))


def rabbitmq_vhost() -> str:
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", 5672)) != 0:
            pytest.skip("no RabbitMQ on 127.0.0.1:5672")
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is needed to create the test's own virtual host")
    vhost = f"knowrithm-test-{uuid.uuid4().hex[:8]}"
    for args in (["add_vhost", vhost], ["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"]):
        done = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            pytest.skip(f"rabbitmqctl {args[0]} failed: {done.stderr[-300:]}")
    return vhost


@pytest.fixture
def amqp_app(settings, app):
    from knowrithm.app import create_app

    vhost = rabbitmq_vhost()
    broker = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    from knowrithm.config import Settings

    # A new Settings, not model_copy: the copy would keep the cached broker_url of the original.
    amqp = create_app(Settings(_env_file=None, **{**settings.model_dump(), "CELERY_BROKER_URL": broker}))
    yield amqp, broker
    app.extensions["celery"].set_default()  # shared_task proxies follow the session's app again
    subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True, timeout=60)


def worker(settings, broker: str) -> subprocess.Popen:
    env = {**os.environ, "SQLALCHEMY_DATABASE_URI": settings.SQLALCHEMY_DATABASE_URI, "REDIS_URL": settings.REDIS_URL,
           "CELERY_BROKER_URL": broker, "SECRET_KEY": settings.SECRET_KEY, "JWT_SECRET_KEY": settings.JWT_SECRET_KEY,
           "UPLOAD_FOLDER": settings.UPLOAD_FOLDER, "LOG_JSON": "false", "LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "knowrithm.worker", "worker", "-Q", "default,slow",
                             "-c", "1", "-P", "prefork", "--without-mingle", "--without-gossip", "--loglevel",
                             "WARNING"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(30)


def record_state(app, task_id: str) -> str:
    from knowrithm.infra.db import db
    from knowrithm.infra.tasks import TaskRecord

    with app.app_context():
        row = db.session.get(TaskRecord, uuid.UUID(task_id))
        state = row.state
        db.session.remove()
    return state


@pytest.mark.timeout(420)
def test_rabbitmq_broker_round_trip_and_redelivery_after_sigkill(amqp_app, settings, companies):
    import io

    from knowrithm.domains.documents.models import Document
    from knowrithm.domains.documents.tasks import process_document
    from knowrithm.domains.system.tasks import roundtrip
    from knowrithm.infra.db import db
    from knowrithm.infra.tasks import enqueue
    from knowrithm.integrations.storage import get_storage

    app, broker = amqp_app
    assert app.extensions["celery"].conf.broker_url.startswith("amqp://")
    first = worker(settings, broker)
    try:
        with app.app_context():
            task_id = str(enqueue(roundtrip, payload="over amqp").id)
            db.session.remove()
        deadline = time.time() + 120
        while record_state(app, task_id) != "SUCCESS" and time.time() < deadline:
            time.sleep(0.3)
        assert record_state(app, task_id) == "SUCCESS"

        agent_id = create_agent(app, companies[0])
        with app.app_context():
            doc = Document(id=uuid.uuid4(), company_id=companies[0].company_id, agent_id=uuid.UUID(agent_id),
                           original_filename="warranty.txt", filename="warranty.txt", document_type="txt",
                           status="pending")
            stored = get_storage(settings).save(f"{companies[0].company_id}/{agent_id}/{doc.id}/source.txt",
                                                io.BytesIO(TEXT.encode()))
            doc.storage_path, doc.file_size, doc.content_hash = stored.key, stored.size, stored.sha256
            db.session.add(doc)
            db.session.flush()
            enqueue(process_document, company_id=companies[0].company_id, document_id=str(doc.id))
            doc_id = str(doc.id)
            db.session.remove()
        deadline = time.time() + 180
        while time.time() < deadline:
            status, progress, *_ = _row(app, doc_id)
            if status == "processing" and progress >= 30:
                break
            assert status != "processed", "the document finished before the worker could be killed"
            time.sleep(0.05)
        kill_group(first)  # master and pool child at once: the AMQP connection drops mid-task
    finally:
        kill_group(first)

    second = worker(settings, broker)
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            status, progress, rows, distinct = _row(app, doc_id)
            if status in ("processed", "failed"):
                break
            time.sleep(0.3)
        assert status == "processed", (status, progress)
        assert rows == distinct > 100
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(30)
        except subprocess.TimeoutExpired:
            kill_group(second)
