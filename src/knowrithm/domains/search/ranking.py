"""Hybrid ranking in one SQL statement: BM25 over the tsvector + exact cosine, fused.

Fusion is either reciprocal-rank fusion (k 60) or a convex combination of min-max
normalised scores over the pooled candidates (the default, see `search.service.FUSION`).

Why it is built this way (measured, see shared/retrieval-notes.md):
- PostgreSQL's `ts_rank` scores far below BM25 (nDCG@10 0.617 vs 0.697 on SciFact), so
  BM25 is computed here: Lucene idf `ln(1 + (N - df + 0.5) / (df + 0.5))`, k1 0.9, b 0.4,
  document length = lexeme occurrences (`lexeme_count`), N and avgdl per agent, and df
  counted exactly from the candidate rows (every agent chunk matching any query lexeme).
- The keyword query is an OR of the query's lexemes: `plainto_tsquery` ANDs them and
  loses most relevant rows.
- Vectors are searched exactly within the agent and its embedding model. A global HNSW
  index under an agent filter returns only a few rows (no iterative scans in pgvector 0.6).
- Everything derived from the query sits in MATERIALIZED CTEs: with prepared statements
  a generic plan otherwise recomputes it per row (56 ms -> 658 ms measured).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text

from knowrithm.infra.db import db

K1, B = 0.9, 0.4
RRF_K = 60
CANDIDATES = 100


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
  SELECT coalesce(array_agg(u.lexeme), ARRAY[]::text[]) AS terms
  FROM unnest(to_tsvector('english'::regconfig, :query)) u
),
tsq AS MATERIALIZED (
  SELECT CASE WHEN cardinality(q.terms) = 0 THEN NULL::tsquery
         ELSE array_to_string(ARRAY(SELECT quote_literal(t) FROM unnest(q.terms) t), ' | ')::tsquery END AS tsq
  FROM q
),
stats AS MATERIALIZED (
  SELECT count(*)::float8 AS n, greatest(coalesce(avg(c.lexeme_count), 1), 1)::float8 AS avgdl
  FROM document_chunks c WHERE c.company_id = :company AND c.agent_id = :agent AND c.deleted_at IS NULL
),
cand AS MATERIALIZED (
  SELECT c.id, c.lexeme_count, c.search_vector FROM document_chunks c, tsq
  WHERE {scope} AND c.search_vector @@ tsq.tsq
),
tf AS MATERIALIZED (
  SELECT cand.id, greatest(cand.lexeme_count, 1)::float8 AS dl, u.lexeme,
         coalesce(array_length(u.positions, 1), 1)::float8 AS tf
  FROM cand, q, unnest(cand.search_vector) u WHERE u.lexeme = ANY(q.terms)
),
df AS (SELECT lexeme, count(*)::float8 AS df FROM tf GROUP BY lexeme),
kw_all AS MATERIALIZED (
  SELECT tf.id,
         sum(ln(1 + (s.n - df.df + 0.5) / (df.df + 0.5))
             * tf.tf * (:k1 + 1) / (tf.tf + :k1 * (1 - :b + :b * tf.dl / s.avgdl))) AS score
  FROM tf JOIN df USING (lexeme) CROSS JOIN stats s
  GROUP BY tf.id
),
kw AS MATERIALIZED (SELECT id, score FROM kw_all ORDER BY score DESC, id LIMIT :candidates),
kw_ranked AS (SELECT id, score, row_number() OVER (ORDER BY score DESC, id) AS rnk FROM kw)"""

_VECTOR = """
qv AS MATERIALIZED (SELECT CAST(:qvec AS vector) AS v),
vec AS MATERIALIZED (
  SELECT c.id, c.embedding <=> qv.v AS dist FROM document_chunks c, qv
  WHERE {scope} AND c.embedding_model = :model AND c.embedding_dim = :dim AND c.embedding IS NOT NULL
  ORDER BY dist, c.id LIMIT :candidates
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
  SELECT p.id, coalesce(ka.score, 0) AS bm25,
         CASE WHEN c.embedding_model = :model AND c.embedding_dim = :dim THEN 1 - (c.embedding <=> qv.v) END AS cos
  FROM pool p JOIN document_chunks c ON c.id = p.id CROSS JOIN qv LEFT JOIN kw_all ka ON ka.id = p.id
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


def build_sql(mode: str, *, with_documents: bool, fusion: str = "rrf") -> str:
    scope = _SCOPE.format(doc_filter=" AND c.document_id = ANY(:document_ids)" if with_documents else "")
    parts = []
    if mode in ("hybrid", "keyword"):
        parts.append(_KEYWORD.format(scope=scope))
    if mode in ("hybrid", "vector"):
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
                    "wk": float(keyword_weight), "wv": float(vector_weight), "alpha": float(alpha)}
    if mode != "keyword":
        params.update(qvec="[" + ",".join(f"{x:.7g}" for x in query_vector) + "]", model=model_key,
                      dim=len(query_vector))
    if document_ids:
        params["document_ids"] = [uuid.UUID(str(d)) for d in document_ids]
    sql = build_sql(mode, with_documents=bool(document_ids), fusion=fusion)
    rows = db.session.execute(text(sql), params).all()
    return [Ranked(r.id, float(r.score), r.bm25, r.cosine, r.krank, r.vrank) for r in rows]
