"""Documents of one agent ingested together: the embedder sees batches shared across documents.

The embedder is the irreducible cost of ingestion, and it is spent best on full batches of
texts of similar length (a batch is padded to its longest text). A burst of uploads queues one
task per document; the first task to run claims up to `BATCH_DOCUMENTS` pending documents of
the same agent (row locks, SKIP LOCKED, so two workers never claim the same one), parses and
chunks each, embeds all their chunks in length-sorted batches, then writes every chunk in one
statement and marks every document processed in the same transaction.

Crash safety. Until that last commit nothing of the batch is indexed: a worker killed mid-batch
leaves its documents `processing`, with no chunks. The claiming task is redelivered (acks_late)
and starts over. Each claimed document still has its own task queued; it finds the document
claimed and, while the batch's lease in Redis is alive, retries later (the batch will finish
the document), or, once the lease has expired (the batch died), takes the document over. So a
document is never half-indexed and never lost; a duplicate run only replaces chunks.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import and_, delete, insert, or_, select, update

from knowrithm.domains.agents.models import Agent
from knowrithm.domains.llm.embedding import agent_embedder, embed_in_batches
from knowrithm.infra.db import db, utcnow
from knowrithm.infra.errors import NotFound
from knowrithm.infra.redis import get_redis
from knowrithm.infra.tasks import TaskRecord
from knowrithm.integrations.crawler.fetch import FetchError
from knowrithm.integrations.embeddings.base import EmbeddingAdapter, EmbeddingError
from knowrithm.integrations.parsers import ParseError
from knowrithm.integrations.storage import StorageError

from ..models import Document, DocumentChunk
from .ingest import (INGESTED, INGESTED_BYTES, INGESTED_CHUNKS, IngestionFailed, Prepared, _fail, chunk_rows,
                     prepare)

log = logging.getLogger(__name__)

BATCH_DOCUMENTS = 32     # documents claimed together: bounds the parsed text held in memory
EMBED_BATCH = 32         # texts per model call
LEASE_SECONDS = 60       # a batch's claim lapses this long after its last sign of life
LEASE_KEY = "knowrithm:ingest:lease:"


class ClaimedElsewhere(Exception):
    """The document belongs to a live batch of another task: try again later."""


def _lease(batch_id: str) -> None:
    get_redis().set(LEASE_KEY + batch_id, "1", ex=LEASE_SECONDS)


def _lease_alive(batch_id: uuid.UUID | None) -> bool:
    return batch_id is not None and bool(get_redis().exists(LEASE_KEY + str(batch_id)))


def _claim(doc: Document, batch_id: uuid.UUID, limit: int) -> list[Document]:
    """The document and up to limit-1 pending siblings of its agent, marked processing by this batch.
    A redelivered batch (its worker died) takes back the documents it had claimed."""
    waiting = or_(Document.status == "pending", and_(Document.status == "processing", Document.task_id == batch_id))
    siblings = list(db.session.execute(
        select(Document).where(Document.agent_id == doc.agent_id, waiting,
                               Document.id != doc.id, Document.deleted_at.is_(None))
        .order_by(Document.created_at, Document.id).limit(limit - 1)
        .with_for_update(skip_locked=True)).scalars())
    now = utcnow()
    claimed = [doc, *siblings]
    for d in claimed:
        d.status, d.progress, d.processing_error, d.task_id = "processing", 5, None, batch_id
        d.processing_started_at = now
        d.parsed_at = d.chunked_at = d.embedded_at = d.processed_at = None
    _lease(str(batch_id))
    db.session.commit()
    return claimed


def store_batch(prepared: list[Prepared], vectors: list[list[float]], model_key: str) -> dict[uuid.UUID, int]:
    """Replace the chunks of every document of the batch with one DELETE and one INSERT."""
    ids = [p.document.id for p in prepared]
    # Serialise with any other run of the same documents on their row locks.
    db.session.execute(select(Document.id).where(Document.id.in_(ids)).order_by(Document.id).with_for_update()
                       .execution_options(include_deleted=True))
    db.session.execute(delete(DocumentChunk).where(DocumentChunk.document_id.in_(ids)))
    rows, counts, at = [], {}, 0
    for p in prepared:
        doc_vectors = vectors[at:at + len(p.chunks)]
        at += len(p.chunks)
        rows += chunk_rows(p.document, p.chunks, doc_vectors, model_key)
        counts[p.document.id] = len(p.chunks)
    if rows:
        db.session.execute(insert(DocumentChunk), rows)
    return counts


def _claimed_after(doc: Document, enqueued_at) -> bool:
    return enqueued_at is not None and doc.processing_started_at is not None and doc.processing_started_at >= enqueued_at


def ingest_batch(document_id, *, task_id, on_progress: Callable[[int], None] | None = None,
                 embedder: EmbeddingAdapter | None = None, limit: int = BATCH_DOCUMENTS) -> dict:
    """Ingest the document, and pending siblings of its agent with it (see the module docstring)."""
    batch_id = uuid.UUID(str(task_id)) if task_id else uuid.uuid4()
    # When this task was queued: a document (re)indexed by a run that started later needs nothing more.
    enqueued_at = db.session.execute(select(TaskRecord.created_at).where(TaskRecord.id == batch_id)) \
        .scalar_one_or_none() if task_id else None
    doc = db.session.execute(select(Document).where(Document.id == uuid.UUID(str(document_id)))
                             .with_for_update().execution_options(include_deleted=True)).scalar_one_or_none()
    if doc is None:
        raise NotFound("Document not found")
    if doc.deleted_at is not None:
        db.session.rollback()
        return {"document_id": str(document_id), "skipped": "document deleted"}
    if doc.status == "processed" and _claimed_after(doc, enqueued_at):
        db.session.rollback()  # a shared batch started on it after this task was queued: nothing left to do
        return {"document_id": str(doc.id), "agent_id": str(doc.agent_id), "status_detail": "processed",
                "skipped": "processed in a shared batch", "batch_task_id": str(doc.task_id)}
    if doc.status == "processing" and doc.task_id != batch_id and _lease_alive(doc.task_id):
        db.session.rollback()
        raise ClaimedElsewhere(str(doc.id))
    agent = db.session.get(Agent, doc.agent_id)
    if agent is None:
        raise NotFound("Agent not found")
    claimed = _claim(doc, batch_id, limit)
    own_id = doc.id

    prepared: list[Prepared] = []
    for d in claimed:
        d_id = d.id
        try:
            # One commit for the batch's phase stamps (below), not two per document.
            prepared.append(prepare(d, commit=False))
        except (ParseError, StorageError, FetchError) as exc:
            INGESTED.labels("failed").inc()
            db.session.commit()  # the stamps of those prepared so far (_fail rolls back)
            _fail(d_id, str(exc))
            if d_id == own_id:
                _release(claimed, own_id)
                raise IngestionFailed(str(exc), code=getattr(exc, "code", None) or "DOCUMENT_PROCESSING_FAILED") \
                    from exc
    db.session.commit()
    ids = [p.document.id for p in prepared]
    try:
        embedder = embedder or agent_embedder(agent)
        texts = [c.embedding_text() for p in prepared for c in p.chunks]

        def progress(done: int, total: int) -> None:
            value = 40 + int(50 * done / total)
            db.session.execute(update(Document).where(Document.id.in_(ids)).values(progress=value))
            db.session.commit()
            _lease(str(batch_id))
            if on_progress:
                on_progress(value)

        vectors = embed_in_batches(embedder, texts, batch_size=EMBED_BATCH, on_batch=progress)
        now = utcnow()
        counts = store_batch(prepared, vectors, embedder.model_key)
        for p in prepared:
            d = p.document
            d.status, d.progress, d.embedded_at, d.processed_at = "processed", 100, now, now
            d.extra_metadata = {**(d.extra_metadata or {}),
                                "ingest_batch": {"task_id": str(batch_id), "documents": len(prepared),
                                                 "chunks": len(texts)}}
        if not agent.active_embedding_model:
            agent.active_embedding_model = embedder.model_key
        size = sum(p.document.file_size or 0 for p in prepared)
        db.session.commit()
        INGESTED.labels("processed").inc(len(prepared))
        INGESTED_CHUNKS.inc(len(texts))
        INGESTED_BYTES.inc(size)
    except EmbeddingError as exc:
        INGESTED.labels("failed").inc(len(ids))
        for d_id in ids:
            _fail(d_id, f"Embedding failed: {exc}")
        raise IngestionFailed(f"Embedding failed: {exc}", code=exc.code) from exc
    except Exception as exc:
        INGESTED.labels("failed").inc(len(ids))
        log.exception("ingestion of documents %s failed", ids)
        for d_id in ids:
            _fail(d_id, f"Processing failed: {exc.__class__.__name__}: {exc}")
        raise
    finally:
        get_redis().delete(LEASE_KEY + str(batch_id))
    own = next(p.document for p in prepared if p.document.id == own_id)
    return {"document_id": str(own_id), "agent_id": str(agent.id), "status_detail": "processed",
            "chunks": counts[own_id], "page_count": own.page_count, "word_count": own.word_count,
            "language": own.language, "batch": {"documents": len(prepared), "chunks": len(texts)}}


def _release(claimed: list[Document], own_id: uuid.UUID) -> None:
    """The claiming document failed to parse: hand its siblings back to their own tasks."""
    others = [d.id for d in claimed if d.id != own_id]
    if others:
        db.session.execute(update(Document).where(Document.id.in_(others), Document.status == "processing")
                           .values(status="pending", progress=0))
        db.session.commit()
