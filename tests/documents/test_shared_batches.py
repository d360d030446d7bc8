"""A burst of documents is embedded in batches shared across documents; a worker killed in the
middle of such a batch leaves no document half-indexed and loses none."""
import os
import signal
import subprocess
import time
import uuid

import psutil
import pytest
from sqlalchemy import func, select

from tests.documents.conftest import create_agent
from tests.documents.test_worker_killed import _document, _worker

BURST = 4


def _text(n: int, paragraphs: int) -> str:
    return "\n\n".join(f"Document {n}, section {i}. The warranty clause {i} covers part {i * 7 + n} of the frame "
                       f"and explains how claim {i} is filed, reviewed and paid. " * 3 for i in range(paragraphs))


def _states(app, doc_ids):
    """id -> (status, progress, chunk rows, distinct chunk indexes, batch info)"""
    from knowrithm.domains.documents.models import Document, DocumentChunk
    from knowrithm.infra.db import db

    out = {}
    with app.app_context():
        for doc_id in doc_ids:
            doc = db.session.execute(select(Document).where(Document.id == uuid.UUID(doc_id))
                                     .execution_options(all_companies=True)).scalar_one()
            rows, distinct = db.session.execute(
                select(func.count(), func.count(func.distinct(DocumentChunk.chunk_index)))
                .where(DocumentChunk.document_id == doc.id).execution_options(all_companies=True)).one()
            out[doc_id] = (doc.status, doc.progress, rows, distinct, (doc.extra_metadata or {}).get("ingest_batch"))
        db.session.remove()
    return out


def _stop(worker):
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(20)
    except subprocess.TimeoutExpired:
        worker.kill()


def _wait_done(app, doc_ids, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        states = _states(app, doc_ids)
        if all(s[0] in ("processed", "failed") for s in states.values()):
            return states
        time.sleep(0.3)
    return _states(app, doc_ids)


def test_a_burst_is_embedded_in_shared_batches(app, settings, companies):
    agent_id = create_agent(app, companies[0])
    # queued before any worker consumes the queue: a burst waiting for the worker
    doc_ids = [_document(app, companies[0], agent_id, _text(n, 12)) for n in range(BURST)]
    worker = _worker(settings)
    try:
        states = _wait_done(app, doc_ids)
    finally:
        _stop(worker)
    assert all(s[0] == "processed" for s in states.values()), states
    batches = {s[4]["task_id"] for s in states.values()}
    assert len(batches) == 1, "one task should have claimed the whole burst"
    batch = next(iter(states.values()))[4]
    assert batch["documents"] == BURST
    assert batch["chunks"] == sum(s[2] for s in states.values())
    for status, progress, rows, distinct, _ in states.values():
        assert progress == 100 and rows == distinct > 0  # every chunk exactly once


@pytest.mark.timeout(600)  # two passes of embedding on a possibly busy machine
def test_a_worker_killed_mid_batch_leaves_nothing_half_indexed_and_loses_nothing(app, settings, companies):
    agent_id = create_agent(app, companies[0])
    doc_ids = [_document(app, companies[0], agent_id, _text(n, 100)) for n in range(BURST)]
    worker = _worker(settings)
    try:
        deadline = time.time() + 180
        while time.time() < deadline:  # wait until the shared batch is being embedded
            states = _states(app, doc_ids)
            assert not any(s[0] == "processed" for s in states.values()), "finished before the kill"
            if all(s[0] == "processing" and s[1] >= 41 for s in states.values()):
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"the batch never reached embedding: {states}")
        for child in psutil.Process(worker.pid).children():
            os.kill(child.pid, signal.SIGKILL)  # the pool process dies mid-batch
        states = _states(app, doc_ids)
        for status, _, rows, _, _ in states.values():
            assert status == "processed" or rows == 0, "a document was left half-indexed"
        states = _wait_done(app, doc_ids)
    finally:
        _stop(worker)
    assert all(s[0] == "processed" for s in states.values()), states  # none lost
    for status, progress, rows, distinct, _ in states.values():
        assert progress == 100 and rows == distinct > 20  # no duplicates from the killed attempt
