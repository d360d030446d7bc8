"""Hybrid ranking in one SQL statement: BM25 over the tsvector + exact cosine, fused.

Fusion is either reciprocal-rank fusion (k 60) or a convex combination of min-max
normalised scores over the pooled candidates (the default, see `search.service.FUSION`).

Why it is built this way (measured, see BENCHMARKS.md, "Retrieval quality" and "Search latency"):
- PostgreSQL's `ts_rank` scores far below BM25 (nDCG@10 0.617 vs 0.697 on SciFact), so
  BM25 is computed here: Lucene idf `ln(1 + (N - df + 0.5) / (df + 0.5))`, k1 0.9, b 0.4,
  document length = lexeme occurrences, N and avgdl per agent (`agent_search_stats`), and
  df counted exactly from the query lexemes' postings (`chunk_terms`, kept by triggers).
  Reading postings instead of unnesting every matching chunk's tsvector is what keeps
  keyword ranking fast in a large agent.
- One deliberate approximation, for large agents: the query's lexemes are read rarest first.
  Once the rarer ones can fill the candidate pool (`POOL`), a commoner lexeme's postings are
  only scanned if the total stays within `BUDGET`; otherwise it is just looked up for the best
  `POOL` candidates found, whose scores stay exact BM25. Chunks matching nothing but such
  commoner lexemes are left out of the keyword list (the vector side can still bring them).
  Small agents stay exact, and a query's cost stops growing with the agent's size.
  Measured on SciFact and at 100,000 chunks: BENCHMARKS.md.
- The keyword query is an OR of the query's lexemes: `plainto_tsquery` ANDs them and
  loses most relevant rows.
- Vectors are searched exactly within the agent and its embedding model, or, once the agent
  is large, through its own partial HNSW index (`vector_index`). A global HNSW index under
  an agent filter returns only a few rows (no iterative scans in pgvector 0.6).
- Everything derived from the query sits in MATERIALIZED CTEs: with prepared statements
  a generic plan otherwise recomputes it per row (56 ms -> 658 ms measured).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import text

from knowrithm.infra.db import db

from .vector_index import VectorIndex, predicate, usable_index

K1, B = 0.9, 0.4
RRF_K = 60
CANDIDATES = 100
BUDGET = 5_000  # postings a query scans once its rarer lexemes can fill the pool
POOL = 300  # best candidates of the scanned lexemes, completed by looking up the other lexemes


@dataclass
class Ranked:
    chunk_id: uuid.UUID
    score: float
    bm25: float | None
    cosine: float | None
    keyword_rank: int | None
    vector_rank: int | None


_SCOPE = ("c.company_id = :company AND c.agent_id = :agent AND c.deleted_at IS NULL"
          "{doc_filter}")

_KEYWORD = """
q AS MATERIALIZED (
  SELECT coalesce(array_agg(DISTINCT u.lexeme), ARRAY[]::text[]) AS terms
  FROM unnest(to_tsvector('english'::regconfig, :query)) u
),
-- BM25's length normalisation folded into three per-query constants, so each posting costs
-- one multiply-add and a division: tf * c1 / (tf + c2 + c3 * dl).
stats AS MATERIALIZED (
  SELECT s.agent_id, greatest(s.chunk_count, 1)::float8 AS n, (:k1 + 1)::float8 AS c1,
         (:k1 * (1 - :b))::float8 AS c2,
         (:k1 * :b / greatest(s.total_length::float8 / greatest(s.chunk_count, 1), 1))::float8 AS c3
  FROM agent_search_stats s WHERE s.agent_id = :agent AND s.company_id = :company
),
-- Company scope through `stats` (the agent must be this company's); df comes from
-- `agent_terms`. Lexemes are taken rarest first; a lexeme's postings are scanned ("essential")
-- while the rarer ones cannot fill the pool yet or the total stays within :budget; the others
-- are only looked up for the candidates found. A small agent's queries stay exact.
idf AS MATERIALIZED (
  SELECT lexeme, w, rarer < :pool OR rarer + df <= :budget AS essential
  FROM (SELECT lexeme, df, w,
               coalesce(sum(df) OVER (ORDER BY df, lexeme ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
                 AS rarer
        FROM (SELECT a.lexeme, a.df, ln(1 + (s.n - a.df + 0.5) / (a.df + 0.5)) AS w
              FROM stats s, q, agent_terms a
              WHERE a.agent_id = s.agent_id AND a.lexeme = ANY(q.terms) AND a.df > 0) terms) ordered
),
-- Postings read by index-only scans (every column needed is in the primary key's index).
cand AS MATERIALIZED (
  SELECT t.chunk_id AS id, sum(i.w * t.tf * s.c1 / (t.tf + s.c2 + s.c3 * t.dl)) AS score
  FROM stats s CROSS JOIN idf i JOIN chunk_terms t ON t.agent_id = s.agent_id AND t.lexeme = i.lexeme
  WHERE i.essential{doc_filter}
  GROUP BY t.chunk_id
  ORDER BY score DESC, t.chunk_id LIMIT :pool
),
-- The candidates' exact BM25: the other lexemes' terms added by primary-key lookups.
kw AS MATERIALIZED (
  SELECT c.id, c.score + coalesce((
           SELECT sum(i.w * t.tf * s.c1 / (t.tf + s.c2 + s.c3 * t.dl))
           FROM stats s CROSS JOIN idf i
           JOIN chunk_terms t ON t.agent_id = s.agent_id AND t.lexeme = i.lexeme AND t.chunk_id = c.id
           WHERE NOT i.essential), 0) AS score
  FROM cand c ORDER BY score DESC, c.id LIMIT :candidates
),
kw_ranked AS (SELECT id, score, row_number() OVER (ORDER BY score DESC, id) AS rnk FROM kw)"""

_VECTOR = """
qv AS MATERIALIZED (SELECT CAST(:qvec AS vector) AS v),
vec AS MATERIALIZED (
  SELECT c.id, c.embedding <=> qv.v AS dist FROM document_chunks c, qv
  WHERE {scope} AND c.embedding_model = :model AND c.embedding_dim = :dim AND c.embedding IS NOT NULL
  ORDER BY dist, c.id LIMIT :candidates
),
vec_ranked AS (SELECT id, dist, row_number() OVER (ORDER BY dist, id) AS rnk FROM vec)"""

# A large agent's own HNSW index (`vector_index`): same expression and predicate as the index.
_VECTOR_INDEXED = """
qv AS MATERIALIZED (SELECT CAST(:qvec AS vector) AS v),
vec AS MATERIALIZED (
  SELECT c.id, (c.embedding::vector({dim})) <=> CAST(:qvec AS vector({dim})) AS dist FROM document_chunks c
  WHERE {predicate} AND c.company_id = :company
  ORDER BY (c.embedding::vector({dim})) <=> CAST(:qvec AS vector({dim})) LIMIT :candidates
),
vec_ranked AS (SELECT id, dist, row_number() OVER (ORDER BY dist, id) AS rnk FROM vec)"""

_FUSED = """
SELECT coalesce(k.id, v.id) AS id,
       coalesce(:wk / (:rrf_k + k.rnk), 0) + coalesce(:wv / (:rrf_k + v.rnk), 0) AS score,
       k.score AS bm25, 1 - v.dist AS cosine, k.rnk AS krank, v.rnk AS vrank
FROM kw_ranked k FULL OUTER JOIN vec_ranked v ON k.id = v.id
ORDER BY score DESC, id LIMIT :limit"""

# Convex combination of min-max normalised scores over the pooled candidates of both lists.
# Every pooled chunk gets both scores (its full BM25, 0 when it shares no lexeme; its exact
# cosine), so a chunk found by one side is not penalised for being missing from the other.
_CONVEX = """,
pool AS (SELECT id FROM kw UNION SELECT id FROM vec),
scored AS MATERIALIZED (
  SELECT p.id, coalesce(k.score, (
           -- a vector candidate outside the keyword top: its BM25 from its own postings
           SELECT sum(i.w * t.tf * s.c1 / (t.tf + s.c2 + s.c3 * t.dl))
           FROM stats s CROSS JOIN idf i
           JOIN chunk_terms t ON t.agent_id = s.agent_id AND t.lexeme = i.lexeme AND t.chunk_id = p.id), 0) AS bm25,
         CASE WHEN c.embedding_model = :model AND c.embedding_dim = :dim THEN 1 - (c.embedding <=> qv.v) END AS cos
  FROM pool p JOIN document_chunks c ON c.id = p.id CROSS JOIN qv LEFT JOIN kw k ON k.id = p.id
),
normed AS (
  SELECT id, bm25, cos,
         (bm25 - min(bm25) OVER ()) / nullif(max(bm25) OVER () - min(bm25) OVER (), 0) AS bn,
         (cos - min(cos) OVER ()) / nullif(max(cos) OVER () - min(cos) OVER (), 0) AS vn
  FROM scored
)
SELECT n.id, :alpha * coalesce(n.bn, 0) + (1 - :alpha) * coalesce(n.vn, 0) AS score, n.bm25, n.cos AS cosine,
       k.rnk AS krank, v.rnk AS vrank
FROM normed n LEFT JOIN kw_ranked k ON k.id = n.id LEFT JOIN vec_ranked v ON v.id = n.id
ORDER BY score DESC, n.id LIMIT :limit"""

_KEYWORD_ONLY = """
SELECT id, score, score AS bm25, NULL::float8 AS cosine, rnk AS krank, NULL::bigint AS vrank
FROM kw_ranked ORDER BY rnk LIMIT :limit"""

_VECTOR_ONLY = """
SELECT id, 1 - dist AS score, NULL::float8 AS bm25, 1 - dist AS cosine, NULL::bigint AS krank, rnk AS vrank
FROM vec_ranked ORDER BY rnk LIMIT :limit"""


def build_sql(mode: str, *, with_documents: bool, fusion: str = "rrf", index: VectorIndex | None = None,
              agent_id=None) -> str:
    scope = _SCOPE.format(doc_filter=" AND c.document_id = ANY(:document_ids)" if with_documents else "")
    parts = []
    if mode in ("hybrid", "keyword"):
        parts.append(_KEYWORD.format(doc_filter=" AND t.document_id = ANY(:document_ids)" if with_documents else ""))
    if mode in ("hybrid", "vector"):
        if index is not None and not with_documents:
            parts.append(_VECTOR_INDEXED.format(dim=index.dim, predicate=predicate(agent_id, index.model, index.dim)))
        else:  # exact: small agents, and document filters (an index scan would return too few rows)
            parts.append(_VECTOR.format(scope=scope))
    if mode == "hybrid" and fusion == "convex":
        return "WITH " + ",".join(parts) + _CONVEX
    final = {"hybrid": _FUSED, "keyword": _KEYWORD_ONLY, "vector": _VECTOR_ONLY}[mode]
    return "WITH " + ",".join(parts) + final


def rank(*, company_id, agent_id, query: str, limit: int, query_vector: list[float] | None = None,
         model_key: str | None = None, document_ids: list | None = None, mode: str = "hybrid",
         candidates: int = CANDIDATES, keyword_weight: float = 1.0, vector_weight: float = 1.0,
         k1: float = K1, b: float = B, fusion: str = "rrf", alpha: float = 0.5) -> list[Ranked]:
    if mode != "keyword" and query_vector is None:
        mode = "keyword"
    params: dict = {"company": company_id, "agent": agent_id, "query": query, "limit": limit,
                    "candidates": max(candidates, limit), "k1": k1, "b": b, "rrf_k": float(RRF_K),
                    "wk": float(keyword_weight), "wv": float(vector_weight), "alpha": float(alpha),
                    "budget": BUDGET, "pool": POOL}
    if mode != "keyword":
        params.update(qvec="[" + ",".join(f"{x:.7g}" for x in query_vector) + "]", model=model_key,
                      dim=len(query_vector))
    if document_ids:
        params["document_ids"] = [uuid.UUID(str(d)) for d in document_ids]
    index = usable_index(agent_id, model_key, params.get("dim")) if mode != "keyword" else None
    if index is not None and not document_ids:
        # An HNSW scan yields at most ef_search rows: keep it above the candidates asked for.
        ef_search = max(current_app.config["SETTINGS"].VECTOR_EF_SEARCH, params["candidates"])
        db.session.execute(text(f"SET LOCAL hnsw.ef_search = {int(ef_search)}"))
    sql = build_sql(mode, with_documents=bool(document_ids), fusion=fusion, index=index, agent_id=agent_id)
    rows = db.session.execute(text(sql), params).all()
    return [Ranked(r.id, float(r.score), r.bm25, r.cosine, r.krank, r.vrank) for r in rows]
