"""The ingestion tasks: idempotent re-runs (redelivery), failure reporting, the reaper, re-embedding."""
from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select, update

from knowrithm.domains.documents.models import Document, DocumentChunk
from knowrithm.infra.db import db, utcnow
from knowrithm.infra.tenancy import company_scope
from tests.conftest import poll_task


def _chunk_rows(document_id):
    return db.session.execute(select(DocumentChunk.chunk_index, DocumentChunk.content)
                              .where(DocumentChunk.document_id == document_id)
                              .order_by(DocumentChunk.chunk_index)).all()


def test_a_redelivered_task_replaces_chunks_without_duplicates(app, companies, celery_worker, sdk_a, agent_a,
                                                                upload_and_wait):
    from knowrithm.domains.documents.pipeline.ingest import ingest_document

    text = "\n\n".join(f"Paragraph {i} explains topic {i} in enough words to fill a chunk. " * 6 for i in range(12))
    _, docs = upload_and_wait(sdk_a, agent_a, {"long.txt": text.encode()})
    doc_id = next(iter(docs))
    with app.app_context(), company_scope(companies[0].company_id):
        before = _chunk_rows(doc_id)
        assert len(before) > 3
        # A worker died after writing part of a previous attempt: stale rows are in the table.
        db.session.execute(update(Document).where(Document.id == doc_id).values(status="processing"))
        db.session.commit()
        result = ingest_document(doc_id)  # the redelivered message runs the whole pipeline again
        assert result["chunks"] == len(before)
        assert _chunk_rows(doc_id) == before
        count = db.session.execute(select(func.count()).select_from(DocumentChunk)
                                   .where(DocumentChunk.document_id == doc_id)).scalar_one()
        assert count == len(before)
        assert db.session.get(Document, uuid.UUID(doc_id)).status == "processed"
        db.session.remove()


def test_failed_document_reports_through_task_status(app, http, celery_worker, sdk_a, agent_a, upload_and_wait):
    body, docs = upload_and_wait(sdk_a, agent_a, {"locked.pdf": _locked_pdf()})
    # A failed task's raw error is shown only to staff of the owning company (README, Security model).
    owner = {k: sdk_a._session.headers[k] for k in ("X-API-Key", "X-API-Secret")}
    status = poll_task(http, f"/api/v1/tasks/{body['task_ids'][0]}/status", headers=owner)
    assert status["status"] == "failed" and "password" in status["error"]
    assert status["error_code"] == "ENCRYPTED_FILE"
    assert "password" in next(iter(docs.values()))["processing_error"]


def _locked_pdf() -> bytes:
    from tests.documents import files

    return files.pdf(["classified"], password="s3cret")


def test_reaper_fails_stuck_documents_with_a_reason(app, companies, agent_a):
    from knowrithm.domains.documents.tasks import reap_stuck_documents

    with app.app_context():
        old = utcnow() - timedelta(hours=5)
        rows = {}
        for name, status, started in (("stuck", "processing", old), ("lost", "pending", None),
                                      ("busy", "processing", utcnow()), ("done", "processed", old)):
            doc = Document(company_id=companies[0].company_id, agent_id=uuid.UUID(agent_a), original_filename=name,
                           filename=name, document_type="txt", status=status, processing_started_at=started)
            if name == "lost":
                doc.created_at = old
            db.session.add(doc)
            rows[name] = doc
        db.session.commit()
        ids = {name: doc.id for name, doc in rows.items()}
        result = reap_stuck_documents.apply().get()
        assert result["reaped"] == 2
        db.session.expire_all()
        statuses = {name: db.session.get(Document, i) for name, i in ids.items()}
        assert statuses["stuck"].status == "failed" and "Timed out" in statuses["stuck"].processing_error
        assert statuses["lost"].status == "failed" and "queue" in statuses["lost"].processing_error
        assert statuses["busy"].status == "processing" and statuses["done"].status == "processed"
        db.session.remove()


def test_reaper_is_scheduled_by_beat():
    from knowrithm.worker import BEAT_SCHEDULE

    assert any(e["task"] == "knowrithm.documents.reap_stuck_documents" for e in BEAT_SCHEDULE.values())


def test_reembed_agent_moves_every_chunk_to_the_current_model(app, http, companies, celery_worker, sdk_a, agent_a,
                                                               upload_and_wait):
    from knowrithm.domains.agents.models import Agent
    from knowrithm.domains.documents.tasks import reembed_agent
    from knowrithm.infra.tasks import enqueue

    _, docs = upload_and_wait(sdk_a, agent_a, {"a.txt": b"Alpha facts about llamas.",
                                               "b.md": b"# Beta\n\nBeta facts about alpacas."})
    with app.app_context():
        current = db.session.execute(select(DocumentChunk.embedding_model)).scalars().first()
        # Pretend the chunks were indexed by an older model.
        db.session.execute(update(DocumentChunk).values(embedding_model="old:model", embedding=None))
        db.session.commit()
        with company_scope(companies[0].company_id):
            record = enqueue(reembed_agent, company_id=companies[0].company_id, agent_id=agent_a)
        task_id = str(record.id)
        db.session.remove()
    status = poll_task(http, f"/api/v1/tasks/{task_id}/status", timeout=60)
    assert status["status"] == "completed", status
    assert status["result"]["reembedded"] == status["result"]["chunks"] >= 2
    with app.app_context():
        models = set(db.session.execute(select(DocumentChunk.embedding_model)).scalars())
        assert models == {current}
        assert db.session.execute(select(func.count()).select_from(DocumentChunk)
                                  .where(DocumentChunk.embedding.is_(None))).scalar_one() == 0
        agent = db.session.get(Agent, uuid.UUID(agent_a))
        assert agent.active_embedding_model == current and agent.reembed_status == "completed"
        db.session.remove()
    assert sdk_a.analytics.search_documents("alpacas", agent_a)["results"][0]["metadata"]["vector_rank"] == 1
