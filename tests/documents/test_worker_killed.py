"""A worker process killed mid-ingestion: the message is redelivered and the document still ends
`processed`, with every chunk exactly once (acks_late + reject_on_worker_lost + idempotent task)."""
import io
import os
import signal
import subprocess
import sys
import time
import uuid

import psutil
from sqlalchemy import func, select

from tests.documents.conftest import create_agent

QUEUE = "ingest_kill_test"  # a queue only this test's worker consumes


def _worker(settings) -> subprocess.Popen:
    env = {**os.environ, "SQLALCHEMY_DATABASE_URI": settings.SQLALCHEMY_DATABASE_URI, "REDIS_URL": settings.REDIS_URL,
           "SECRET_KEY": settings.SECRET_KEY, "JWT_SECRET_KEY": settings.JWT_SECRET_KEY,
           "UPLOAD_FOLDER": settings.UPLOAD_FOLDER, "LOG_JSON": "false", "LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "knowrithm.worker", "worker", "-Q", QUEUE,
                             "-c", "1", "-P", "prefork", "--without-mingle", "--without-gossip",
                             "--loglevel", "WARNING"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _document(app, tenant, agent_id: str, text: str) -> str:
    from knowrithm.domains.documents.models import Document
    from knowrithm.domains.documents.tasks import process_document
    from knowrithm.infra.db import db
    from knowrithm.infra.tasks import enqueue
    from knowrithm.integrations.storage import get_storage

    with app.app_context():
        doc = Document(id=uuid.uuid4(), company_id=tenant.company_id, agent_id=uuid.UUID(agent_id),
                       original_filename="handbook.txt", filename="handbook.txt", document_type="txt",
                       status="pending")
        stored = get_storage(app.config["SETTINGS"]).save(f"{tenant.company_id}/{agent_id}/{doc.id}/source.txt",
                                                          io.BytesIO(text.encode()))
        doc.storage_path, doc.file_size, doc.content_hash = stored.key, stored.size, stored.sha256
        db.session.add(doc)
        db.session.flush()
        enqueue(process_document, company_id=tenant.company_id, queue=QUEUE, document_id=str(doc.id))
        doc_id = str(doc.id)
        db.session.remove()
    return doc_id


def _row(app, doc_id):
    from knowrithm.domains.documents.models import Document, DocumentChunk
    from knowrithm.infra.db import db

    with app.app_context():
        doc = db.session.execute(select(Document).where(Document.id == uuid.UUID(doc_id))
                                 .execution_options(all_companies=True)).scalar_one()
        counts = db.session.execute(
            select(func.count(), func.count(func.distinct(DocumentChunk.chunk_index)))
            .where(DocumentChunk.document_id == doc.id).execution_options(all_companies=True, include_deleted=True)
        ).one()
        state = (doc.status, doc.progress, counts[0], counts[1])
        db.session.remove()
    return state


def test_killed_worker_leaves_the_document_resumable(app, settings, companies):
    agent_id = create_agent(app, companies[0])
    text = "\n\n".join(f"Section {i}. The warranty clause number {i} covers part {i * 7} of the frame "
                       f"and explains how claim {i} is filed, reviewed and paid. " * 3 for i in range(900))
    worker = _worker(settings)
    try:
        doc_id = _document(app, companies[0], agent_id, text)
        deadline = time.time() + 120
        while time.time() < deadline:  # wait until the chunks are being embedded
            status, progress, *_ = _row(app, doc_id)
            if status == "processing" and progress >= 40:
                break
            assert status != "processed", "the document finished before the worker could be killed"
            time.sleep(0.05)
        children = psutil.Process(worker.pid).children()
        assert children, "no pool process to kill"
        for child in children:
            os.kill(child.pid, signal.SIGKILL)  # the pool process dies mid-document

        deadline = time.time() + 180
        while time.time() < deadline:
            status, progress, rows, distinct = _row(app, doc_id)
            if status in ("processed", "failed"):
                break
            time.sleep(0.2)
        assert status == "processed", (status, progress)
        assert rows == distinct > 100  # every chunk once: no duplicates from the killed attempt
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
