"""Documents, their chunks with vectors, and the keyword-search postings and statistics kept beside them."""
from __future__ import annotations

import uuid
from datetime import datetime

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    JSON, BigInteger, Computed, DateTime, ForeignKey, Index, Integer, PrimaryKeyConstraint, String, Text,
    UniqueConstraint, Uuid,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from knowrithm.infra.db import Base, SoftDelete, TenantOwned, Timestamps, UUIDPk


class Document(UUIDPk, Timestamps, SoftDelete, TenantOwned, Base):
    """An uploaded file or fetched URL; `status` walks pending -> processing -> processed | failed."""

    __tablename__ = "documents"

    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agents.id", ondelete="CASCADE"), index=True,
                                                nullable=False)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    website_page_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    original_filename: Mapped[str] = mapped_column(String(500), nullable=False)
    filename: Mapped[str] = mapped_column(String(500), nullable=False)
    title: Mapped[str | None] = mapped_column(String(500))
    document_type: Mapped[str] = mapped_column(String(20), nullable=False)
    mime_type: Mapped[str | None] = mapped_column(String(120))
    source_url: Mapped[str | None] = mapped_column(Text)
    storage_path: Mapped[str | None] = mapped_column(Text)
    file_size: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    page_count: Mapped[int | None] = mapped_column(Integer)
    word_count: Mapped[int | None] = mapped_column(Integer)
    language: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(20), default="pending", nullable=False, index=True)
    processing_error: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    task_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    processing_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    parsed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    chunked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    embedded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    extra_metadata: Mapped[dict] = mapped_column("metadata", JSON, default=dict, nullable=False)
    deleted_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class DocumentChunk(UUIDPk, Timestamps, SoftDelete, TenantOwned, Base):
    """A retrievable passage. The vector column has no fixed dimension so agents may use any
    embedding model; `embedding_model` keeps vectors of different models apart, and
    `search_vector` feeds keyword (BM25) ranking through `ChunkTerm` postings, which database
    triggers keep in step with every write (see migration 0002)."""

    __tablename__ = "document_chunks"
    __table_args__ = (
        Index("ix_document_chunks_search_vector", "search_vector", postgresql_using="gin"),
        Index("ix_document_chunks_agent_live", "agent_id", "embedding_model",
              postgresql_where="deleted_at IS NULL"),
        # A redelivered ingestion task replaces a document's chunks; this makes a duplicate
        # impossible even if two runs race.
        UniqueConstraint("document_id", "chunk_index", name="uq_document_chunks_document_index"),
    )

    document_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("documents.id", ondelete="CASCADE"),
                                                   index=True, nullable=False)
    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agents.id", ondelete="CASCADE"), index=True,
                                                nullable=False)
    chunk_index: Mapped[int] = mapped_column(Integer, nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    word_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    token_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    page_number: Mapped[int | None] = mapped_column(Integer)
    heading_path: Mapped[str | None] = mapped_column(Text)
    # Deferred: vectors and tsvectors are for SQL to rank, not for Python to load (parsing them
    # back dominated search time when they were loaded with every row).
    embedding: Mapped[list[float] | None] = mapped_column(Vector(), deferred=True)
    embedding_model: Mapped[str | None] = mapped_column(String(200))
    embedding_dim: Mapped[int | None] = mapped_column(Integer)
    search_vector: Mapped[str | None] = mapped_column(
        TSVECTOR, Computed("to_tsvector('english'::regconfig, coalesce(content, ''))", persisted=True),
        deferred=True,
    )
    extra_metadata: Mapped[dict] = mapped_column("metadata", JSON, default=dict, nullable=False)


class ChunkTerm(Base):
    """One posting of the BM25 index: a lexeme of a live chunk, with its term frequency and the
    chunk's length. Written only by the `document_chunks` triggers, so inserts, soft deletes,
    restores, edits and cascaded deletes all keep it exact in the same transaction.

    Keyword ranking reads the postings of the query's lexemes within one agent (an index-only
    scan of the primary key) instead of unnesting every matching chunk's tsvector, which is
    what made it grow with the agent's size (2.8 ms against 12-14 ms, BENCHMARKS.md)."""

    __tablename__ = "chunk_terms"
    __table_args__ = (
        PrimaryKeyConstraint("agent_id", "lexeme", "chunk_id", name="pk_chunk_terms",
                             postgresql_include=["tf", "dl", "document_id"]),
    )

    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    lexeme: Mapped[str] = mapped_column(Text, nullable=False)
    chunk_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    # No foreign keys and no extra indexes on purpose: the triggers own these rows, and each
    # index would make every chunk write ~50 index insertions dearer.
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    document_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    tf: Mapped[int] = mapped_column(Integer, nullable=False)
    dl: Mapped[int] = mapped_column(Integer, nullable=False)


class AgentTerm(Base):
    """Document frequency of a lexeme among an agent's live chunks (BM25's idf), kept by the
    chunk triggers so a query reads it with one primary-key lookup per query lexeme."""

    __tablename__ = "agent_terms"

    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    lexeme: Mapped[str] = mapped_column(Text, primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    df: Mapped[int] = mapped_column(Integer, nullable=False)


class AgentSearchStats(Base):
    """Per-agent BM25 totals (live chunk count and total length), kept by the same triggers;
    `vector_index_*` names the agent's partial HNSW index once it is large enough to need one."""

    __tablename__ = "agent_search_stats"

    agent_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    company_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("companies.id", ondelete="CASCADE"),
                                                  index=True, nullable=False)
    chunk_count: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    total_length: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    vector_index_name: Mapped[str | None] = mapped_column(String(63))
    vector_index_model: Mapped[str | None] = mapped_column(String(200))
    vector_index_dim: Mapped[int | None] = mapped_column(Integer)
