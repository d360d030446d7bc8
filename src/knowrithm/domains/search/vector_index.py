"""Per-agent partial HNSW indexes for agents too large for an exact vector scan.

Why per agent (BENCHMARKS.md, "Search latency at 100,000 chunks"): pgvector 0.6 has no iterative index scan, so a
global HNSW index under `WHERE agent_id = X` returns only about `ef_search x share` rows,
often none of the right ones. An exact scan within one agent is always right and cheap up to
~20,000 chunks (~13 ms); beyond that a partial index whose predicate names the agent and its
embedding model returns the right neighbours (recall 0.98-1.0) in about a millisecond.

The vector column has no fixed dimension (agents may use any model), so the index is on
`embedding::vector(<dim>)`; ranking uses the same expression, with the agent and model as
literals so the planner can prove the partial predicate even under a generic plan.
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import text

from knowrithm.infra.db import db

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VectorIndex:
    name: str
    model: str
    dim: int


def index_name(agent_id) -> str:
    return f"ix_chunks_hnsw_{uuid.UUID(str(agent_id)).hex}"


def literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def predicate(agent_id, model: str, dim: int, alias: str = "c.") -> str:
    """The partial-index predicate; ranking repeats it verbatim so the index applies."""
    return (f"{alias}agent_id = {literal(uuid.UUID(str(agent_id)))}::uuid AND {alias}embedding_model = "
            f"{literal(model)} AND {alias}embedding_dim = {int(dim)} AND {alias}deleted_at IS NULL")


# A search asks for the agent's index on every query; indexes are built and dropped by the
# maintenance task, rarely. A stale answer is only slower, never wrong: without its index the
# same statement scans the agent's rows, and a new index is used once the entry expires.
_USABLE_TTL = 30.0
_usable: dict = {}


def usable_index(agent_id, model: str | None, dim: int | None) -> VectorIndex | None:
    """The agent's index if it serves this model and dimension (cached per process for 30 s)."""
    if not model or not dim:
        return None
    agent_id = uuid.UUID(str(agent_id))
    now = time.monotonic()
    cached = _usable.get(agent_id)
    if cached is None or cached[0] < now:
        row = db.session.execute(text(
            "SELECT vector_index_name, vector_index_model, vector_index_dim FROM agent_search_stats "
            "WHERE agent_id = :agent"), {"agent": agent_id}).one_or_none()
        found = VectorIndex(row[0], row[1], row[2]) if row is not None and row[0] is not None else None
        cached = _usable[agent_id] = (now + _USABLE_TTL, found)
    index = cached[1]
    return index if index is not None and index.model == model and index.dim == dim else None


def forget_usable(agent_id=None) -> None:
    """Drop cached answers (after building or dropping an index in this process)."""
    if agent_id is None:
        _usable.clear()
    else:
        _usable.pop(uuid.UUID(str(agent_id)), None)


def dominant_model(agent_id) -> tuple[str, int] | None:
    row = db.session.execute(text(
        "SELECT embedding_model, embedding_dim FROM document_chunks "
        "WHERE agent_id = :agent AND deleted_at IS NULL AND embedding IS NOT NULL "
        "GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1"), {"agent": agent_id}).one_or_none()
    return (row[0], int(row[1])) if row else None


def agents_needing_index(min_chunks: int) -> list[uuid.UUID]:
    rows = db.session.execute(text(
        "SELECT s.agent_id FROM agent_search_stats s JOIN agents a ON a.id = s.agent_id "
        "WHERE s.chunk_count >= :n AND (s.vector_index_name IS NULL "
        "OR s.vector_index_model IS DISTINCT FROM a.active_embedding_model)"),
        {"n": min_chunks}).scalars()
    return list(rows)


def needs_index(agent_id) -> bool:
    minimum = current_app.config["SETTINGS"].VECTOR_INDEX_MIN_CHUNKS
    row = db.session.execute(text(
        "SELECT chunk_count, vector_index_name FROM agent_search_stats WHERE agent_id = :agent"),
        {"agent": agent_id}).one_or_none()
    return row is not None and row[0] >= minimum and row[1] is None


def build(agent_id) -> VectorIndex | None:
    """Create (or replace, after a model change) the agent's index without blocking writes."""
    agent_id = uuid.UUID(str(agent_id))
    found = dominant_model(agent_id)
    if found is None:
        db.session.commit()
        return None
    model, dim = found
    forget_usable(agent_id)  # decide on what the database says now, not on this process's cache
    current = usable_index(agent_id, model, dim)
    db.session.commit()  # CREATE INDEX CONCURRENTLY waits for every open transaction, ours too
    if current:
        return None  # already current (several finished documents may each have asked)
    name = index_name(agent_id)
    settings = current_app.config["SETTINGS"]
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # One build per agent at a time; a session lock ends with the connection if we die.
        if not conn.execute(text("SELECT pg_try_advisory_lock(hashtext(:name))"), {"name": name}).scalar():
            return None
        # A failed concurrent build leaves an invalid index behind; a model change leaves a stale one.
        conn.execute(text(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"'))
        conn.execute(text(f"SET maintenance_work_mem = {literal(settings.VECTOR_INDEX_BUILD_MEMORY)}"))
        conn.execute(text(
            f'CREATE INDEX CONCURRENTLY "{name}" ON document_chunks USING hnsw '
            f"((embedding::vector({dim})) vector_cosine_ops) WITH (m = 16, ef_construction = 64) "
            f"WHERE {predicate(agent_id, model, dim, alias='')}"))
        conn.execute(text(
            "UPDATE agent_search_stats SET vector_index_name = :name, vector_index_model = :model, "
            "vector_index_dim = :dim WHERE agent_id = :agent"),
            {"name": name, "model": model, "dim": dim, "agent": agent_id})
        conn.execute(text("SELECT pg_advisory_unlock(hashtext(:name))"), {"name": name})
    forget_usable(agent_id)
    log.info("built vector index %s (%s, %d dims)", name, model, dim)
    return VectorIndex(name, model, dim)


def drop_orphans() -> list[str]:
    """Indexes whose agent is gone (its stats row cascaded away) or no longer points at them."""
    names = db.session.execute(text(
        "SELECT i.indexname FROM pg_indexes i WHERE i.tablename = 'document_chunks' "
        "AND i.indexname LIKE 'ix\\_chunks\\_hnsw\\_%' "
        "AND NOT EXISTS (SELECT 1 FROM agent_search_stats s WHERE s.vector_index_name = i.indexname)")).scalars()
    names = list(names)
    db.session.commit()
    dropped = []
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name in names:
            # A build still running holds this lock and has not recorded its index yet.
            if conn.execute(text("SELECT pg_try_advisory_lock(hashtext(:name))"), {"name": name}).scalar():
                conn.execute(text(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"'))
                conn.execute(text("SELECT pg_advisory_unlock(hashtext(:name))"), {"name": name})
                dropped.append(name)
    if dropped:
        forget_usable()
    return dropped
