"""Document search: the retrieval step of chat and `POST /search/document`.

`search_chunks` runs inside the caller's company scope: the agent is loaded through the
tenancy filter (another company's agent is a 404), and the ranking SQL is bound to that
agent's company, live chunks only.
"""
from __future__ import annotations

import logging
import time

from flask import current_app
from sqlalchemy import select

from knowrithm.domains.agents.models import Agent
from knowrithm.domains.llm.embedding import agent_embedder
from knowrithm.domains.documents.models import Document, DocumentChunk
from knowrithm.infra.db import db, iso
from knowrithm.infra.tenancy import get_or_404
from knowrithm.integrations.embeddings import query_cache
from knowrithm.integrations.embeddings.base import EmbeddingError
from knowrithm.integrations.rerank import RerankError, get_reranker

from .ranking import Ranked, rank

log = logging.getLogger(__name__)
MAX_LIMIT = 50        # results per API call
MAX_CANDIDATES = 200  # per internal call (chat context building, evaluation at depth 100)
# How keyword and vector candidates are fused, chosen by nDCG@10 on SciFact train queries
# (BENCHMARKS.md): a convex combination of min-max normalised scores beat reciprocal-rank
# fusion at every BM25 setting tried; 0.35-0.4 was the flat optimum of the BM25 weight.
FUSION = "convex"
ALPHA = 0.4


def _query_vector(agent: Agent, query: str) -> tuple[list[float] | None, str | None]:
    try:
        embedder = agent_embedder(agent)
        # Repeated questions (FAQs, suggested questions) skip the model run or provider round trip.
        return query_cache.embed_query(embedder, query), embedder.model_key
    except EmbeddingError:
        # Keyword search still answers when the embedding provider is down.
        log.warning("query embedding failed for agent %s; keyword search only", agent.id, exc_info=True)
        return None, None


def _hydrate(ranked: list[Ranked], company_id) -> list[dict]:
    if not ranked:
        return []
    chunks, docs = DocumentChunk.__table__.c, Document.__table__.c
    # Plain columns, not ORM entities: building two objects per row cost more than the query.
    # Never load the vectors or tsvectors back: parsing them dominated search time.
    rows = db.session.execute(
        select(chunks.id, chunks.document_id, chunks.chunk_index, chunks.content, chunks.page_number,
               chunks.heading_path, chunks.word_count, chunks.embedding_model, chunks.created_at,
               chunks["metadata"].label("chunk_metadata"), docs.title, docs.original_filename, docs.source_url,
               docs.document_type, docs["metadata"].label("document_metadata"))
        .join_from(DocumentChunk.__table__, Document.__table__, docs.id == chunks.document_id)
        # The ranking already kept to the company's live chunks; a chunk or its document deleted
        # since then drops out here.
        .where(chunks.id.in_([r.chunk_id for r in ranked]), chunks.company_id == company_id,
               chunks.deleted_at.is_(None), docs.deleted_at.is_(None))).all()
    by_id = {row.id: row for row in rows}
    results = []
    for r in ranked:
        row = by_id.get(r.chunk_id)
        if row is None:
            continue
        results.append({
            "id": str(row.id), "chunk_id": str(row.id), "document_id": str(row.document_id),
            "document_name": row.title or row.original_filename, "chunk_index": row.chunk_index,
            "content": row.content, "text": row.content, "score": round(r.score, 6),
            "source_url": row.source_url, "page_number": row.page_number, "heading_path": row.heading_path,
            "word_count": row.word_count, "embedding_model": row.embedding_model,
            "created_at": iso(row.created_at),
            "metadata": {**(row.chunk_metadata or {}), "document_type": row.document_type,
                         "document_metadata": row.document_metadata or {}, "bm25_score": r.bm25,
                         "vector_similarity": r.cosine, "keyword_rank": r.keyword_rank,
                         "vector_rank": r.vector_rank},
        })
    return results


def search_chunks(*, agent_id, query: str, limit: int = 10, document_ids=None, mode: str = "hybrid") -> list[dict]:
    agent = get_or_404(Agent, agent_id, what="Agent")
    query = (query or "").strip()
    if not query:
        return []
    limit = max(1, min(int(limit), MAX_CANDIDATES))
    settings = current_app.config["SETTINGS"]
    reranker = get_reranker(settings)
    depth = min(max(limit, settings.RERANK_DEPTH), MAX_CANDIDATES) if reranker else limit
    vector, model_key = (None, None) if mode == "keyword" else _query_vector(agent, query)
    ranked = rank(company_id=agent.company_id, agent_id=agent.id, query=query, limit=depth, query_vector=vector,
                  model_key=model_key, document_ids=document_ids, mode=mode, fusion=FUSION, alpha=ALPHA)
    results = _hydrate(ranked, agent.company_id)
    return _rerank(reranker, query, results)[:limit] if reranker else results


def _rerank(reranker, query: str, results: list[dict]) -> list[dict]:
    """Reorder by the cross-encoder's scores; on any reranker failure keep the fused order."""
    if len(results) < 2:
        return results
    try:
        scores = reranker.rerank(query, [r["content"] for r in results])
    except RerankError:
        log.warning("reranker failed; keeping the fused order", exc_info=True)
        return results
    for r, score in zip(results, scores):
        r["metadata"]["fused_score"], r["metadata"]["rerank_score"] = r["score"], score
        r["score"] = round(score, 6)
    # Stable: equal rerank scores keep their fused order.
    return sorted(results, key=lambda r: -r["metadata"]["rerank_score"])


def search_documents(*, agent_id, query: str, limit: int = 10, document_ids=None,
                     include_content: bool = True) -> tuple[list[dict], float]:
    """The ranked results and the seconds the search took."""
    started = time.perf_counter()
    results = search_chunks(agent_id=agent_id, query=query, limit=min(limit, MAX_LIMIT), document_ids=document_ids)
    if not include_content:
        for item in results:
            item.pop("content"), item.pop("text")
    return results, time.perf_counter() - started
