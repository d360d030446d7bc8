"""Request and response shapes of the document routes."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from knowrithm.infra.db import iso, sid
from knowrithm.infra.parsing import split_list
from knowrithm.infra.responses import Open, Pagination

from .models import Document, DocumentChunk


class UploadBody(BaseModel):
    """Multipart or JSON; any other field is kept as the documents' metadata."""

    model_config = ConfigDict(extra="allow")

    agent_id: uuid.UUID
    url: str | None = None
    urls: list[str] = Field(default_factory=list)

    @field_validator("urls", mode="before")
    @classmethod
    def _urls(cls, value):
        if value is None:
            return []
        if isinstance(value, str):
            return split_list([value])
        return value


class DocumentListQuery(BaseModel):
    page: int = Field(1, ge=1)
    per_page: int = Field(10, ge=1, le=100)
    status: str | None = None
    search: str | None = None
    document_type: str | None = None
    agent_id: uuid.UUID | None = None


class PageQuery(BaseModel):
    page: int = Field(1, ge=1)
    per_page: int = Field(50, ge=1, le=100)


class BulkDeleteBody(BaseModel):
    document_ids: list[uuid.UUID] = Field(min_length=1, max_length=1000)


def document_out(doc: Document, chunk_count: int | None = None) -> dict:
    return {
        "id": str(doc.id), "company_id": sid(doc.company_id), "agent_id": sid(doc.agent_id),
        "user_id": sid(doc.user_id), "user": sid(doc.user_id),
        "original_filename": doc.original_filename, "filename": doc.filename,
        "title": doc.title or doc.original_filename,
        "document_type": doc.document_type, "type": doc.document_type, "mime_type": doc.mime_type,
        "file_size": doc.file_size, "content_hash": doc.content_hash, "source_url": doc.source_url,
        "page_count": doc.page_count, "word_count": doc.word_count, "language": doc.language,
        "status": doc.status, "processing_error": doc.processing_error, "progress": doc.progress,
        "task_id": sid(doc.task_id), "chunks": chunk_count, "chunk_count": chunk_count,
        "processing_started_at": iso(doc.processing_started_at), "parsed_at": iso(doc.parsed_at),
        "chunked_at": iso(doc.chunked_at), "embedded_at": iso(doc.embedded_at),
        "processed_at": iso(doc.processed_at), "metadata": doc.extra_metadata or {},
        "created_at": iso(doc.created_at), "updated_at": iso(doc.updated_at), "deleted_at": iso(doc.deleted_at),
    }


def chunk_out(chunk: DocumentChunk) -> dict:
    return {
        "id": str(chunk.id), "document_id": str(chunk.document_id), "agent_id": sid(chunk.agent_id),
        "chunk_index": chunk.chunk_index, "content": chunk.content, "word_count": chunk.word_count,
        "token_count": chunk.token_count, "page_number": chunk.page_number, "heading_path": chunk.heading_path,
        "embedding_model": chunk.embedding_model, "metadata": chunk.extra_metadata or {},
        "created_at": iso(chunk.created_at), "deleted_at": iso(chunk.deleted_at),
    }


# --- listing envelopes (each list under every key some client reads) ------------------------

def document_list_out(rows, counts: dict, meta: dict, **extra) -> dict:
    docs = [document_out(d, counts.get(d.id, 0)) for d in rows]
    return {"document": docs, "documents": docs, "items": docs, "data": docs, "pagination": meta, **extra}


def deleted_documents_out(rows, meta: dict) -> dict:
    docs = [document_out(d) for d in rows]
    return {"deleted_documents": docs, "documents": docs, "items": docs, "pagination": meta}


def deleted_chunks_out(rows, meta: dict) -> dict:
    chunks = [chunk_out(c) for c in rows]
    return {"deleted_chunks": chunks, "chunks": chunks, "items": chunks, "pagination": meta}


def document_chunks_out(doc, rows, meta: dict) -> dict:
    chunks = [chunk_out(c) for c in rows]
    return {"document_id": str(doc.id), "chunks": chunks, "items": chunks, "pagination": meta}


def document_deleted_out(doc, chunks: int, message: str = "Document deleted") -> dict:
    return {"success": True, "message": message, "document_id": str(doc.id), "deleted_chunks_count": chunks}


def document_restored_out(doc, chunks: int, message: str = "Document restored") -> dict:
    return {"success": True, "message": message, "document_id": str(doc.id), "filename": doc.filename,
            "restored_chunks_count": chunks}


def bulk_deleted_out(docs, chunks: int, not_found) -> dict:
    return {"success": True, "message": f"{len(docs)} document(s) deleted", "deleted_documents_count": len(docs),
            "deleted_chunks_count": chunks, "document_ids": [str(d.id) for d in docs],
            "not_found": [str(i) for i in not_found]}


def chunk_changed_out(chunk, message: str) -> dict:
    return {"success": True, "message": message, "chunk_id": str(chunk.id), "chunk_index": chunk.chunk_index,
            "document_id": str(chunk.document_id)}


class DocumentOut(Open):
    """`document_out`: `status` walks pending -> processing -> processed | failed."""

    id: uuid.UUID
    company_id: uuid.UUID
    agent_id: uuid.UUID | None
    user_id: uuid.UUID | None
    user: uuid.UUID | None
    original_filename: str | None
    filename: str | None
    title: str | None
    document_type: str
    type: str
    mime_type: str | None
    file_size: int | None
    content_hash: str | None
    source_url: str | None
    page_count: int | None
    word_count: int | None
    language: str | None
    status: Literal["pending", "processing", "processed", "failed"]
    processing_error: str | None
    progress: float | None
    task_id: uuid.UUID | None
    chunks: int | None
    chunk_count: int | None
    processing_started_at: datetime | None
    parsed_at: datetime | None
    chunked_at: datetime | None
    embedded_at: datetime | None
    processed_at: datetime | None
    metadata: dict[str, Any]
    created_at: datetime | None
    updated_at: datetime | None
    deleted_at: datetime | None


class ChunkOut(Open):
    id: uuid.UUID
    document_id: uuid.UUID
    agent_id: uuid.UUID | None
    chunk_index: int
    content: str
    word_count: int | None
    token_count: int | None
    page_number: int | None
    heading_path: Any
    embedding_model: str | None
    metadata: dict[str, Any]
    created_at: datetime | None
    deleted_at: datetime | None


class UploadResultOut(BaseModel):
    name: str | None
    document_id: uuid.UUID | None = None
    outcome: Literal["queued", "duplicate", "failed"]
    error: str | None = None
    error_code: str | None = None


class UploadOut(Open):
    """200 when every item was accepted, 207 when some failed (`errors`, `results`)."""

    success: bool
    message: str
    documents: list[DocumentOut]
    document: DocumentOut
    duplicates: list[DocumentOut]
    documents_processed: int = Field(ge=0)
    documents_failed: int = Field(ge=0)
    total_submitted: int = Field(ge=0)
    task_ids: list[str]
    errors: list[str]
    errors_count: int = Field(ge=0)
    error_summary: dict[str, int]
    results: list[UploadResultOut]


class DocumentListOut(Open):
    document: list[DocumentOut]
    documents: list[DocumentOut]
    items: list[DocumentOut]
    data: list[DocumentOut]
    pagination: Pagination
    agent_id: uuid.UUID | None = None


class DeletedDocumentsOut(Open):
    deleted_documents: list[DocumentOut]
    documents: list[DocumentOut]
    items: list[DocumentOut]
    pagination: Pagination


class DeletedChunksOut(Open):
    deleted_chunks: list[ChunkOut]
    chunks: list[ChunkOut]
    items: list[ChunkOut]
    pagination: Pagination


class DocumentChunksOut(Open):
    document_id: uuid.UUID
    chunks: list[ChunkOut]
    items: list[ChunkOut]
    pagination: Pagination


class BulkDeletedOut(Open):
    success: bool
    message: str
    deleted_documents_count: int = Field(ge=0)
    deleted_chunks_count: int = Field(ge=0)
    document_ids: list[uuid.UUID]
    not_found: list[uuid.UUID]


class ChunkChangedOut(Open):
    success: bool
    message: str
    chunk_id: uuid.UUID
    chunk_index: int
    document_id: uuid.UUID


class DocumentDeletedOut(Open):
    success: bool
    message: str
    document_id: uuid.UUID
    deleted_chunks_count: int = Field(ge=0)


class DocumentRestoredOut(Open):
    success: bool
    message: str
    document_id: uuid.UUID
    restored_chunks_count: int = Field(ge=0)
    filename: str | None = None
