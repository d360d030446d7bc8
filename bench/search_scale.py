"""Search latency with many chunks in one agent.

    python bench/search_scale.py [--chunks 100000] [--queries 50]

Fills one agent with `--chunks` chunks in an embedded PostgreSQL: the text is SciFact
abstracts (cycled), the vectors random unit vectors of the offline model's dimension (the
vector scan costs the same whatever the values), tagged with the agent's embedding model so
`search_chunks` uses them. Then times `search_chunks` (hybrid, the chat path: query embedding,
one ranking statement, row loading) for SciFact queries and prints p50/p95.
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
    args = parser.parse_args()
    texts = [json.loads(line)["text"][:1500] for line in open(args.data / "corpus.jsonl")]
    queries = [json.loads(line)["text"] for line in open(args.data / "queries.jsonl")][: args.queries]
    with tempfile.TemporaryDirectory() as tmp:
        app, pg = make_app(Path(tmp))
        try:
            from sqlalchemy import text

            from knowrithm.domains.documents.embedding import agent_embedder
            from knowrithm.domains.documents.models import Document
            from knowrithm.domains.search.service import search_chunks
            from knowrithm.infra.db import db
            from knowrithm.infra.tenancy import company_scope

            with app.app_context():
                agent, _ = ensure_agent("scale")
                embedder = agent_embedder(agent)
                model_key, dim = embedder.model_key, len(embedder.embed_query("dimension probe"))
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
                        word_count, token_count, embedding, embedding_model, embedding_dim, lexeme_count,
                        metadata, created_at, updated_at)
                    SELECT gen_random_uuid(), :company, :agent, :doc, g, c.body, 200, 250,
                           (SELECT array_agg(random() - 0.5) FROM generate_series(1, {dim}) WHERE g > 0)::vector,
                           :model, {dim}, 0, '{{}}'::json, now(), now()
                    FROM generate_series(1, :count) g JOIN corpus c ON c.n = g % (SELECT count(*) FROM corpus)
                """), {"company": agent.company_id, "agent": agent.id, "doc": doc.id, "model": model_key,
                       "count": args.chunks})
                db.session.execute(text(
                    "UPDATE document_chunks c SET lexeme_count = coalesce((SELECT sum(coalesce("
                    "array_length(u.positions, 1), 1)) FROM unnest(c.search_vector) u), 0) WHERE agent_id = :agent"),
                    {"agent": agent.id})
                db.session.commit()
                db.session.execute(text("ANALYZE document_chunks"))
                db.session.commit()
                rows = db.session.execute(text("SELECT count(*) FROM document_chunks WHERE agent_id = :a"),
                                          {"a": agent.id}).scalar()
                print(f"filled {rows} chunks in {time.perf_counter() - started:.0f} s")
                with company_scope(agent.company_id):
                    search_chunks(agent_id=agent.id, query=queries[0], limit=10)  # warm caches
                    for mode in ("hybrid", "keyword", "vector"):
                        times = []
                        for q in queries:
                            t = time.perf_counter()
                            search_chunks(agent_id=agent.id, query=q, limit=10, mode=mode)
                            times.append((time.perf_counter() - t) * 1000)
                        times.sort()
                        print(f"{mode:7s} {rows} chunks: p50 {statistics.median(times):.1f} ms, "
                              f"p95 {times[int(0.95 * (len(times) - 1))]:.1f} ms ({len(times)} queries)")
        finally:
            pg.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
