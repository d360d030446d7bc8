"""Document and chunk lifecycle: lists, soft delete and restore.

A document's chunks are soft-deleted with it, stamped with the document's own
`deleted_at`, so restoring the document brings back exactly those chunks and not ones
deleted individually before. Search filters on `deleted_at`, so a deleted chunk leaves
the results as soon as the transaction commits.
"""
from __future__ import annotations

import uuid

from sqlalchemy import func, or_, select, update

from knowrithm.domains.agents.models import Agent
from knowrithm.infra.db import db, utcnow
from knowrithm.infra.errors import Conflict, NotFound
from knowrithm.infra.pagination import paginate
from knowrithm.infra.tenancy import get_or_404

from .models import Document, DocumentChunk


def _chunk_counts(doc_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not doc_ids:
        return {}
    stmt = (select(DocumentChunk.document_id, func.count()).where(DocumentChunk.document_id.in_(doc_ids))
            .group_by(DocumentChunk.document_id))
    return dict(db.session.execute(stmt).all())


def list_documents(*, page: int, per_page: int, status=None, search=None, document_type=None,
                   agent_id=None) -> tuple[list[Document], dict, dict]:
    """One page of documents, their chunk counts by id, and the page metadata."""
    stmt = select(Document).order_by(Document.created_at.desc(), Document.id)
    if status:
        stmt = stmt.where(Document.status == status.lower())
    if document_type:
        stmt = stmt.where(Document.document_type == document_type.lower())
    if agent_id:
        stmt = stmt.where(Document.agent_id == agent_id)
    if search:
        like = f"%{search.strip()}%"
        stmt = stmt.where(or_(Document.original_filename.ilike(like), Document.title.ilike(like),
                              Document.source_url.ilike(like)))
    rows, meta = paginate(stmt, page, per_page)
    return rows, _chunk_counts([d.id for d in rows]), meta


def list_agent_documents(*, agent_id, page: int, per_page: int, document_type=None,
                         status=None) -> tuple[list[Document], dict, dict]:
    get_or_404(Agent, agent_id, what="Agent")
    return list_documents(page=page, per_page=per_page, document_type=document_type, status=status,
                          agent_id=agent_id)


def list_deleted_documents(*, page: int, per_page: int) -> tuple[list[Document], dict]:
    stmt = select(Document).where(Document.deleted_at.is_not(None)).order_by(Document.deleted_at.desc(), Document.id)
    return paginate(stmt, page, per_page, include_deleted=True)


def list_deleted_chunks(*, page: int, per_page: int) -> tuple[list[DocumentChunk], dict]:
    stmt = (select(DocumentChunk).where(DocumentChunk.deleted_at.is_not(None))
            .order_by(DocumentChunk.deleted_at.desc(), DocumentChunk.id))
    return paginate(stmt, page, per_page, include_deleted=True)


def list_document_chunks(document_id, *, page: int, per_page: int) -> tuple[Document, list[DocumentChunk], dict]:
    """A document's live chunks in reading order (the console's chunk viewer)."""
    doc = get_or_404(Document, document_id, what="Document")
    stmt = (select(DocumentChunk).where(DocumentChunk.document_id == doc.id)
            .order_by(DocumentChunk.chunk_index, DocumentChunk.id))
    return (doc, *paginate(stmt, page, per_page))


def _delete_chunks_of(doc: Document, when) -> int:
    result = db.session.execute(
        update(DocumentChunk).where(DocumentChunk.document_id == doc.id, DocumentChunk.deleted_at.is_(None))
        .values(deleted_at=when).execution_options(synchronize_session=False))
    return result.rowcount or 0


def delete_document(document_id, *, user_id=None) -> tuple[Document, int]:
    """(the document, how many of its chunks were hidden with it)."""
    doc = get_or_404(Document, document_id, what="Document")
    now = utcnow()
    doc.deleted_at, doc.deleted_by = now, user_id
    count = _delete_chunks_of(doc, now)
    db.session.commit()
    return doc, count


def restore_document(document_id) -> tuple[Document, int]:
    """(the document, how many chunks came back with it: those hidden by its deletion)."""
    doc = get_or_404(Document, document_id, include_deleted=True, what="Document")
    if doc.deleted_at is None:
        raise Conflict("Document is not deleted", code="NOT_DELETED")
    deleted_at = doc.deleted_at
    restored = db.session.execute(
        update(DocumentChunk).where(DocumentChunk.document_id == doc.id, DocumentChunk.deleted_at == deleted_at)
        .values(deleted_at=None).execution_options(synchronize_session=False)).rowcount or 0
    doc.deleted_at, doc.deleted_by = None, None
    db.session.commit()
    return doc, restored


def bulk_delete_documents(document_ids: list[uuid.UUID], *, user_id=None) -> tuple[list[Document], int, list]:
    """(the documents deleted, their chunks hidden, the ids not found)."""
    docs = list(db.session.execute(select(Document).where(Document.id.in_(document_ids))).scalars())
    if not docs:
        raise NotFound("None of the documents were found")
    now = utcnow()
    chunks = 0
    for doc in docs:
        doc.deleted_at, doc.deleted_by = now, user_id
        chunks += _delete_chunks_of(doc, now)
    db.session.commit()
    found = {d.id for d in docs}
    return docs, chunks, [i for i in document_ids if i not in found]


def delete_chunk(chunk_id) -> DocumentChunk:
    chunk = get_or_404(DocumentChunk, chunk_id, what="Chunk")
    chunk.soft_delete()
    db.session.commit()
    return chunk


def restore_chunk(chunk_id) -> DocumentChunk:
    chunk = get_or_404(DocumentChunk, chunk_id, include_deleted=True, what="Chunk")
    if chunk.deleted_at is None:
        raise Conflict("Chunk is not deleted", code="NOT_DELETED")
    get_or_404(Document, chunk.document_id, what="Document")  # a deleted document keeps its chunks hidden
    chunk.restore()
    db.session.commit()
    return chunk


def delete_document_chunks(document_id) -> tuple[Document, int]:
    doc = get_or_404(Document, document_id, what="Document")
    count = _delete_chunks_of(doc, utcnow())
    db.session.commit()
    return doc, count


def restore_document_chunks(document_id) -> tuple[Document, int]:
    doc = get_or_404(Document, document_id, what="Document")
    count = db.session.execute(
        update(DocumentChunk).where(DocumentChunk.document_id == doc.id, DocumentChunk.deleted_at.is_not(None))
        .values(deleted_at=None).execution_options(synchronize_session=False)).rowcount or 0
    db.session.commit()
    return doc, count
