"""Search latency with many chunks in one agent.

    python bench/search_scale.py [--chunks 100000] [--queries 50] [--db-dir DIR] [--explain]

Fills one agent with `--chunks` chunks in an embedded PostgreSQL: the text is SciFact
abstracts (cycled), the vectors random unit vectors of the offline model's dimension (the
vector scan costs the same whatever the values), tagged with the agent's embedding model so
`search_chunks` uses them. The chunk triggers fill the BM25 postings; the agent's HNSW index
is built as the maintenance task builds it (time printed). Then times `search_chunks` (hybrid,
the chat path: query embedding, one ranking statement, row loading) for SciFact queries and
prints p50/p95, plus the same for the exact vector scan (index disabled) for comparison.
`--db-dir` keeps the database for later runs (filling is skipped when it is there).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from retrieval import ensure_agent, make_app  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    parser.add_argument("--db-dir", type=Path, help="keep the database here (reused when present)")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of one hybrid query")
    args = parser.parse_args()
    texts = [json.loads(line)["text"][:1500] for line in open(args.data / "corpus.jsonl")]
    queries = [json.loads(line)["text"] for line in open(args.data / "queries.jsonl")][: args.queries]
    with tempfile.TemporaryDirectory() as tmp:
        app, services = make_app(args.db_dir or Path(tmp))
        try:
            from knowrithm.domains.llm.embedding import agent_embedder

            with app.app_context():
                agent, _, created = ensure_agent("scale")
                embedder = agent_embedder(agent)
                model_key, dim = embedder.model_key, len(embedder.embed_query("dimension probe"))
                if created:
                    fill(agent, args.chunks, texts, model_key, dim)
                run(app, agent, queries, args.explain)
        finally:
            for service in services:  # embedded PostgreSQL and Redis
                service.stop()
    return 0


def fill(agent, count, texts, model_key, dim):
    from sqlalchemy import text

    from knowrithm.domains.documents.models import Document
    from knowrithm.domains.search import vector_index
    from knowrithm.infra.db import db

    doc = Document(id=uuid.uuid4(), company_id=agent.company_id, agent_id=agent.id,
                   original_filename="bulk.txt", filename="bulk.txt", document_type="txt",
                   status="processed")
    db.session.add(doc)
    db.session.commit()
    started = time.perf_counter()
    db.session.execute(text("CREATE TEMP TABLE corpus (n int, body text)"))
    db.session.execute(text("INSERT INTO corpus VALUES (:n, :body)"),
                       [{"n": i, "body": t} for i, t in enumerate(texts)])
    db.session.execute(text(f"""
        INSERT INTO document_chunks (id, company_id, agent_id, document_id, chunk_index, content,
            word_count, token_count, embedding, embedding_model, embedding_dim,
            metadata, created_at, updated_at)
        SELECT gen_random_uuid(), :company, :agent, :doc, g, c.body, 200, 250,
               (SELECT array_agg(random() - 0.5) FROM generate_series(1, {dim}) WHERE g > 0)::vector,
               :model, {dim}, '{{}}'::json, now(), now()
        FROM generate_series(1, :count) g JOIN corpus c ON c.n = g % (SELECT count(*) FROM corpus)
    """), {"company": agent.company_id, "agent": agent.id, "doc": doc.id, "model": model_key,
           "count": count})
    db.session.commit()
    # What autovacuum does shortly after a bulk load; the postings' index-only scans
    # need the visibility map.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE document_chunks"))
        conn.execute(text("VACUUM ANALYZE chunk_terms"))
    rows = db.session.execute(text("SELECT count(*) FROM document_chunks WHERE agent_id = :a"),
                              {"a": agent.id}).scalar()
    print(f"filled {rows} chunks in {time.perf_counter() - started:.0f} s (postings by the triggers)")
    started = time.perf_counter()
    built = vector_index.build(agent.id)
    print(f"built HNSW index {built.name if built else None} in {time.perf_counter() - started:.0f} s")


def run(app, agent, queries, explain):
    from sqlalchemy import text

    from knowrithm.domains.search import ranking
    from knowrithm.domains.search.service import search_chunks
    from knowrithm.infra.db import db
    from knowrithm.infra.tenancy import company_scope

    agent_id = agent.id  # read once: after each commit the ORM object would reload itself
    rows = db.session.execute(text("SELECT count(*) FROM document_chunks WHERE agent_id = :a AND deleted_at IS NULL"),
                              {"a": agent_id}).scalar()
    with company_scope(agent.company_id):
        for q in queries:  # steady state: the agent's index pages in shared buffers
            search_chunks(agent_id=agent_id, query=q, limit=10)
        db.session.commit()
        if explain:
            explain_one(agent, queries[1])

        def timed(mode):
            from knowrithm.integrations.embeddings import query_cache

            query_cache._CACHE.clear()  # every timed query pays its embedding (no repeats counted)
            times, returned = [], []
            phases.clear()
            for q in queries:
                t = time.perf_counter()
                returned.append(len(search_chunks(agent_id=agent_id, query=q, limit=10, mode=mode)))
                times.append((time.perf_counter() - t) * 1000)
                db.session.commit()  # as a request ends
            times.sort()
            return times, min(returned)

        phases: dict[str, list[float]] = {}
        restore = time_phases(phases)
        for mode in ("hybrid", "keyword", "vector"):
            times, fewest = timed(mode)
            print(f"{mode:7s} {rows} chunks: p50 {statistics.median(times):.1f} ms, "
                  f"p95 {pct(times, 0.95):.1f} ms ({len(times)} queries, fewest results {fewest})")
            print("        phases p50/p95: " + ", ".join(
                f"{name} {statistics.median(v):.1f}/{pct(sorted(v), 0.95):.1f}" for name, v in phases.items()))
        restore()
        real = ranking.usable_index
        ranking.usable_index = lambda *a, **k: None  # the exact scan, for comparison
        try:
            times, fewest = timed("vector")
        finally:
            ranking.usable_index = real
        print(f"vector, exact scan (no index): p50 {statistics.median(times):.1f} ms, "
              f"p95 {pct(times, 0.95):.1f} ms")


def pct(sorted_values, q):
    return sorted_values[int(q * (len(sorted_values) - 1))]


def time_phases(phases):
    """Wrap the three stages of `search_chunks` to time each (embed, rank SQL, load rows)."""
    from knowrithm.domains.search import service

    real = {"embed": service._query_vector, "rank": service.rank, "hydrate": service._hydrate}

    def wrap(name, fn):
        def timed_call(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                phases.setdefault(name, []).append((time.perf_counter() - t) * 1000)
        return timed_call

    service._query_vector, service.rank, service._hydrate = (wrap(n, f) for n, f in real.items())

    def restore():
        service._query_vector, service.rank, service._hydrate = real.values()
    return restore


def explain_one(agent, query):
    from sqlalchemy import text

    from knowrithm.domains.llm.embedding import agent_embedder
    from knowrithm.domains.search import ranking
    from knowrithm.domains.search.service import ALPHA, FUSION
    from knowrithm.infra.db import db

    embedder = agent_embedder(agent)
    vector = list(embedder.embed_query(query))
    captured = {}
    real_execute = db.session.execute

    def capture(stmt, params=None, *a, **k):
        if params and "query" in params:
            captured.update(sql=str(stmt), params=params)
        return real_execute(stmt, params, *a, **k)

    db.session.execute = capture
    try:
        ranking.rank(company_id=agent.company_id, agent_id=agent.id, query=query, limit=10, query_vector=vector,
                     model_key=embedder.model_key, fusion=FUSION, alpha=ALPHA)
    finally:
        db.session.execute = real_execute
    plan = db.session.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + captured["sql"]), captured["params"]).scalars()
    print("\n".join(plan))
    db.session.commit()


if __name__ == "__main__":
    raise SystemExit(main())
