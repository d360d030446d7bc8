"""Document ingestion tasks (queue `slow`, by name prefix), the re-embed task and the reaper."""
from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import undefer

from knowrithm.domains.agents.models import Agent
from knowrithm.domains.llm.embedding import agent_embedder
from knowrithm.infra.db import db, utcnow
from knowrithm.infra.errors import NotFound
from knowrithm.infra.tasks import enqueue
from knowrithm.integrations.embeddings.base import EmbeddingError

from .models import Document, DocumentChunk
from .pipeline.chunking import embedding_text
from .pipeline.batch import ClaimedElsewhere, ingest_batch
from .signals import chunks_indexed

log = logging.getLogger(__name__)
REEMBED_PAGE = 256
CLAIM_RETRY_SECONDS = 5
# Enough retries to outlast a batch of BATCH_DOCUMENTS long documents on a busy node, then
# the lease has surely lapsed (a dead batch) or the document is done.
CLAIM_RETRIES = 4 * 3600 // CLAIM_RETRY_SECONDS


@shared_task(bind=True, name="knowrithm.documents.process_document", acks_late=True,
             autoretry_for=(ConnectionError, TimeoutError), retry_backoff=True, max_retries=3,
             soft_time_limit=1800, time_limit=1900)
def process_document(self, document_id: str, company_id: str | None = None) -> dict:
    """Parse, chunk, embed and index the document, with pending documents of the same agent in
    shared embedding batches (pipeline/batch.py). Safe to run again: chunks are replaced."""
    try:
        result = ingest_batch(document_id, task_id=self.request.id, on_progress=self.report_progress)
    except ClaimedElsewhere as exc:  # a live batch holds it: look again once that batch is done
        raise self.retry(exc=exc, countdown=CLAIM_RETRY_SECONDS, max_retries=CLAIM_RETRIES) from None
    if result.get("agent_id"):
        chunks_indexed.send(result["agent_id"], company_id=company_id)
    return result


def queue_reembed(agent: Agent) -> None:
    """Queues `reembed_agent` in the caller's transaction (sent once it commits)."""
    enqueue(reembed_agent, company_id=agent.company_id, commit=False, agent_id=str(agent.id))


@shared_task(bind=True, name="knowrithm.documents.reembed_agent", acks_late=True, soft_time_limit=3600,
             time_limit=3700)
def reembed_agent(self, agent_id: str, company_id: str | None = None) -> dict:
    """Re-embed every chunk of an agent with its current embedding model.

    Pages through the chunks by id and commits per page, so a rerun after an interruption
    continues cheaply (chunks already on the new model are skipped).
    """
    agent = db.session.get(Agent, agent_id)
    if agent is None:
        raise NotFound("Agent not found")
    agent.reembed_status = "processing"
    db.session.commit()
    try:
        embedder = agent_embedder(agent)
        key = embedder.model_key
        base = (select(DocumentChunk).where(DocumentChunk.agent_id == agent.id)
                .options(undefer(DocumentChunk.embedding))
                .execution_options(include_deleted=True).order_by(DocumentChunk.id))
        total = db.session.query(DocumentChunk.id).filter(DocumentChunk.agent_id == agent.id) \
            .execution_options(include_deleted=True).count()
        done, changed, last_id = 0, 0, None
        while True:
            stmt = base.limit(REEMBED_PAGE)
            if last_id is not None:
                stmt = stmt.where(DocumentChunk.id > last_id)
            rows = list(db.session.execute(stmt).scalars())
            if not rows:
                break
            todo = [c for c in rows if c.embedding_model != key or c.embedding is None]
            if todo:
                texts = [embedding_text(c.content, c.heading_path) for c in todo]
                vectors = embedder.embed_documents(texts)
                for chunk, vec in zip(todo, vectors):
                    chunk.embedding, chunk.embedding_model, chunk.embedding_dim = vec, key, len(vec)
                changed += len(todo)
            done += len(rows)
            last_id = rows[-1].id
            db.session.commit()
            if total:
                self.report_progress(int(100 * done / total))
        agent.active_embedding_model = key
        agent.reembed_status = "completed"
        db.session.commit()
        return {"agent_id": str(agent.id), "embedding_model": key, "chunks": done, "reembedded": changed}
    except EmbeddingError:
        db.session.rollback()
        db.session.execute(update(Agent).where(Agent.id == agent.id).values(reembed_status="failed"))
        db.session.commit()
        raise


@shared_task(name="knowrithm.documents.reap_stuck_documents")
def reap_stuck_documents(minutes: int | None = None) -> dict:
    """Fail documents stuck in `processing` (or never started) past the timeout, with a reason."""
    minutes = minutes or current_app.config["SETTINGS"].DOCUMENT_STUCK_MINUTES
    cutoff = utcnow() - timedelta(minutes=minutes)
    # Pending documents wait in a queue; give them twice as long before calling them lost.
    pending_cutoff = utcnow() - timedelta(minutes=2 * minutes)
    stmt = select(Document).where(
        ((Document.status == "processing") & (Document.processing_started_at < cutoff))
        | ((Document.status == "pending") & (Document.created_at < pending_cutoff))
    ).execution_options(all_companies=True)
    reaped = []
    for doc in db.session.execute(stmt).scalars():
        waited = "processing" if doc.status == "processing" else "waiting in the queue"
        doc.status = "failed"
        doc.processing_error = (f"Timed out after {minutes if waited == 'processing' else 2 * minutes} minutes "
                                f"{waited} (the worker was probably lost); upload it again to retry")
        reaped.append(str(doc.id))
    db.session.commit()
    if reaped:
        log.warning("reaped %d stuck documents", len(reaped))
    return {"reaped": len(reaped), "document_ids": reaped}
