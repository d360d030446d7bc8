"""Request and response shapes of the document routes (CONTRACT §2.11, §1.12)."""
from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field, field_validator

from knowrithm.infra.db import iso, sid
from knowrithm.infra.parsing import split_list

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


def pagination(page: int, per_page: int, total: int) -> dict:
    pages = (total + per_page - 1) // per_page if total else 0
    return {"page": page, "per_page": per_page, "total": total, "pages": pages,
            "has_next": page < pages, "has_prev": page > 1}
