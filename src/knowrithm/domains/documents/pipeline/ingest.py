"""One document through the pipeline: load -> parse -> chunk -> embed -> index.

Every phase stamps its time and progress on the document row and commits, so a watcher
sees where it is. Chunks are written in one final transaction that first removes any
chunks an earlier, interrupted run left: running the same document twice (a redelivered
task) ends in the same rows, never duplicates.
"""
from __future__ import annotations

import io
import logging
import uuid
from dataclasses import dataclass
from typing import Callable

from flask import current_app
from prometheus_client import Counter
from sqlalchemy import delete, insert, select

from knowrithm.domains.agents.models import Agent
from knowrithm.domains.llm.embedding import agent_embedder, embed_in_batches
from knowrithm.infra.db import db, utcnow
from knowrithm.infra.errors import ApiError, NotFound
from knowrithm.integrations.crawler.fetch import FetchError, fetch
from knowrithm.integrations.embeddings.base import EmbeddingAdapter, EmbeddingError
from knowrithm.integrations.parsers import ParsedDocument, ParseError, ParseOptions, detect_type, parse
from knowrithm.integrations.storage import StorageError, get_storage

from ..models import Document, DocumentChunk
from .chunking import Chunk, chunk_blocks
from .language import detect_language

log = logging.getLogger(__name__)


class IngestionFailed(ApiError):
    status, code, message = 422, "DOCUMENT_PROCESSING_FAILED", "Document processing failed"


@dataclass
class Prepared:
    document: Document
    parsed: ParsedDocument
    chunks: list[Chunk]


def load_document(document_id) -> Document:
    stmt = select(Document).where(Document.id == uuid.UUID(str(document_id))).execution_options(include_deleted=True)
    doc = db.session.execute(stmt).scalar_one_or_none()
    if doc is None:
        raise NotFound("Document not found")
    return doc


def _settings():
    return current_app.config["SETTINGS"]


def load_source(doc: Document) -> bytes:
    """The document's bytes: from storage, or fetched (and then stored) for a URL document."""
    settings = _settings()
    storage = get_storage(settings)
    if doc.storage_path and storage.exists(doc.storage_path):
        return storage.read(doc.storage_path)
    if not doc.source_url:
        raise StorageError("The uploaded file is missing from storage")
    fetched = fetch(doc.source_url, max_bytes=settings.MAX_FILE_SIZE, allow_private=settings.ALLOW_PRIVATE_URLS)
    doc_type = detect_type(None, fetched.content_type) or detect_type(fetched.url) or "html"
    doc.document_type = doc_type
    doc.mime_type = (fetched.content_type or "").split(";")[0][:120] or None
    stored = storage.save(f"{doc.company_id}/{doc.agent_id}/{doc.id}/source.{doc_type}", io.BytesIO(fetched.content),
                          max_bytes=settings.MAX_FILE_SIZE)
    doc.storage_path, doc.file_size, doc.content_hash = stored.key, stored.size, stored.sha256
    return fetched.content


def prepare(doc: Document, *, commit: bool = True) -> Prepared:
    """Load, parse and chunk, stamping the phases on the row (committed after each phase, unless
    the caller commits a whole batch's stamps at once)."""
    settings = _settings()
    data = load_source(doc)
    parsed = parse(data, doc.document_type, ParseOptions(ocr_languages=settings.OCR_LANGUAGES))
    doc.page_count = parsed.page_count
    doc.word_count = parsed.word_count
    doc.language = detect_language(parsed.text)
    if parsed.title and not doc.title:
        doc.title = parsed.title[:500]
    if parsed.ocr_pages:
        doc.extra_metadata = {**(doc.extra_metadata or {}), "ocr_pages": parsed.ocr_pages}
    doc.parsed_at = utcnow()
    doc.progress = 30
    if commit:
        db.session.commit()
    chunks = chunk_blocks(parsed.blocks)
    if not chunks:
        raise ParseError("No text could be extracted from the document", code="NO_TEXT")
    doc.chunked_at = utcnow()
    doc.progress = 40
    if commit:
        db.session.commit()
    return Prepared(doc, parsed, chunks)


def store_chunks(doc: Document, chunks: list[Chunk], vectors: list[list[float]], model_key: str) -> int:
    """Replace the document's chunks in one transaction (idempotent under redelivery)."""
    # Serialise concurrent runs of one document on its row lock.
    db.session.execute(select(Document.id).where(Document.id == doc.id).with_for_update()
                       .execution_options(include_deleted=True))
    db.session.execute(delete(DocumentChunk).where(DocumentChunk.document_id == doc.id))
    rows = chunk_rows(doc, chunks, vectors, model_key)
    if rows:
        db.session.execute(insert(DocumentChunk), rows)
    return len(rows)


def chunk_rows(doc: Document, chunks: list[Chunk], vectors: list[list[float]], model_key: str) -> list[dict]:
    """The document's chunks as rows for one bulk INSERT."""
    return [dict(id=uuid.uuid4(), company_id=doc.company_id, document_id=doc.id, agent_id=doc.agent_id,
                 chunk_index=i, content=c.content, word_count=c.word_count, token_count=c.token_count,
                 page_number=c.page_number, heading_path=c.heading_path, embedding=vec,
                 embedding_model=model_key, embedding_dim=len(vec) if vec is not None else None,
                 extra_metadata={"kinds": sorted(c.kinds)})
            for i, (c, vec) in enumerate(zip(chunks, vectors))]


def _fail(doc_id, message: str) -> None:
    db.session.rollback()
    doc = load_document(doc_id)
    doc.status = "failed"
    doc.processing_error = message[:2000]
    doc.processed_at = None
    db.session.commit()


INGESTED = Counter("knowrithm_ingestion_documents_total", "Documents ingested, by outcome", ["outcome"])
INGESTED_CHUNKS = Counter("knowrithm_ingestion_chunks_total", "Chunks stored by ingestion")
INGESTED_BYTES = Counter("knowrithm_ingestion_bytes_total", "Bytes of source documents ingested")


def ingest_document(document_id, *, task_id=None, on_progress: Callable[[int], None] | None = None,
                    embedder: EmbeddingAdapter | None = None) -> dict:
    doc = load_document(document_id)
    if doc.deleted_at is not None:
        return {"document_id": str(doc.id), "skipped": "document deleted"}
    agent = db.session.get(Agent, doc.agent_id)
    if agent is None:
        raise NotFound("Agent not found")
    doc.status, doc.progress, doc.processing_error = "processing", 5, None
    doc.processing_started_at = utcnow()
    doc.parsed_at = doc.chunked_at = doc.embedded_at = doc.processed_at = None
    if task_id:
        doc.task_id = uuid.UUID(str(task_id))
    db.session.commit()

    def progress(value: int) -> None:
        doc.progress = value
        db.session.commit()
        if on_progress:
            on_progress(value)

    doc_id = doc.id
    try:
        prepared = prepare(doc)
        progress(40)
        embedder = embedder or agent_embedder(agent)
        chunks = prepared.chunks
        vectors = embed_in_batches(embedder, [c.embedding_text() for c in chunks],
                                   on_batch=lambda done, total: progress(40 + int(50 * done / total)))
        doc.embedded_at = utcnow()
        count = store_chunks(doc, chunks, vectors, embedder.model_key)
        doc.status, doc.progress, doc.processed_at = "processed", 100, utcnow()
        if not agent.active_embedding_model:
            agent.active_embedding_model = embedder.model_key
        db.session.commit()
        INGESTED.labels("processed").inc()
        INGESTED_CHUNKS.inc(count)
        INGESTED_BYTES.inc(doc.file_size or 0)
    except (ParseError, StorageError, FetchError) as exc:
        INGESTED.labels("failed").inc()
        message = str(exc)
        _fail(doc_id, message)
        raise IngestionFailed(message, code=getattr(exc, "code", None) or "DOCUMENT_PROCESSING_FAILED") from exc
    except EmbeddingError as exc:
        INGESTED.labels("failed").inc()
        _fail(doc_id, f"Embedding failed: {exc}")
        raise IngestionFailed(f"Embedding failed: {exc}", code=exc.code) from exc
    except Exception as exc:
        INGESTED.labels("failed").inc()
        log.exception("ingestion of document %s failed", doc_id)
        _fail(doc_id, f"Processing failed: {exc.__class__.__name__}: {exc}")
        raise
    return {"document_id": str(doc_id), "agent_id": str(agent.id), "status_detail": "processed", "chunks": count,
            "page_count": doc.page_count, "word_count": doc.word_count, "language": doc.language}
