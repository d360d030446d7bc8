"""Retrieval quality and latency on BEIR SciFact, through the platform's own code.

The corpus goes through the ingestion pipeline (storage -> parser -> chunker -> embedder ->
`store_chunks`) into one agent of one company, in an embedded PostgreSQL; queries go
through `search_chunks`, the function chat uses. Chunk hits are folded to documents (first
hit wins) and scored with nDCG@10 and Recall@100 against a qrels file.

    python bench/retrieval.py --data ../shared/data/scifact --qrels ../shared/data/scifact/qrels/train.tsv

Ends with one line `nDCG@10=0.xxxx Recall@100=0.xxxx` (the hybrid ranking). `--db-dir`
keeps the database between runs, so re-scoring skips ingestion.
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import resource
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def load_corpus(data: Path, limit: int | None):
    docs = []
    with open(data / "corpus.jsonl") as fh:
        for line in fh:
            row = json.loads(line)
            docs.append((row["_id"], row.get("title") or "", row.get("text") or ""))
            if limit and len(docs) >= limit:
                break
    return docs


def load_queries(data: Path, qrels_path: Path, subset: set[str] | None):
    qrels: dict[str, set[str]] = {}
    with open(qrels_path) as fh:
        next(fh)
        for line in fh:
            qid, did, score = line.rstrip("\n").split("\t")
            if int(score) > 0:
                qrels.setdefault(qid, set()).add(did)
    queries = {}
    with open(data / "queries.jsonl") as fh:
        for line in fh:
            row = json.loads(line)
            if row["_id"] in qrels and (subset is None or row["_id"] in subset):
                queries[row["_id"]] = row["text"]
    return queries, qrels


def ndcg_at_10(ranked: list[str], relevant: set[str]) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:10]) if d in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(10, len(relevant))))
    return dcg / ideal if ideal else 0.0


def recall_at_100(ranked: list[str], relevant: set[str]) -> float:
    return len(set(ranked[:100]) & relevant) / len(relevant) if relevant else 0.0


def make_app(db_dir: Path):
    from knowrithm.app import create_app
    from knowrithm.bootstrap import bootstrap
    from knowrithm.config import Settings
    from knowrithm.infra.embedded import EmbeddedPostgres

    pg = EmbeddedPostgres(db_dir / "pg")
    uri = pg.start("knowrithm_bench")
    settings = Settings(_env_file=None, SQLALCHEMY_DATABASE_URI=uri, UPLOAD_FOLDER=str(db_dir / "uploads"),
                        SUPER_ADMIN_PASSWORD="bench-only-password-1", LOG_JSON=False, LOG_LEVEL="WARNING")
    app = create_app(settings)
    with app.app_context():
        bootstrap(app)
    return app, pg


def ensure_agent(corpus_name: str):
    from sqlalchemy import select

    from knowrithm.domains.agents.models import Agent
    from knowrithm.domains.companies.models import Company
    from knowrithm.infra.db import db

    agent = db.session.execute(select(Agent).where(Agent.name == f"bench-{corpus_name}")
                               .execution_options(all_companies=True)).scalar_one_or_none()
    if agent is not None:
        return agent, False
    company = Company(name=f"Bench {corpus_name}", email=f"bench-{uuid.uuid4().hex[:8]}@bench.test")
    db.session.add(company)
    db.session.flush()
    agent = Agent(id=uuid.uuid4(), company_id=company.id, name=f"bench-{corpus_name}", status="active",
                  personality_traits={}, capabilities=[], operating_hours={}, languages=[])
    db.session.add(agent)
    db.session.commit()
    return agent, True


def missing_documents(agent, corpus):
    from sqlalchemy import delete, select

    from knowrithm.domains.documents.models import Document
    from knowrithm.infra.db import db

    db.session.execute(delete(Document).where(Document.agent_id == agent.id, Document.status != "processed"))
    db.session.commit()
    done = set(db.session.execute(select(Document.original_filename).where(Document.agent_id == agent.id)).scalars())
    return [row for row in corpus if f"{row[0]}.txt" not in done]


def ingest(app, agent, corpus, batch_docs: int = 256) -> dict:
    """Upload-equivalent + pipeline, embedding across documents in batches (as a bulk import would)."""
    from knowrithm.domains.documents.embedding import agent_embedder, embed_in_batches
    from knowrithm.domains.documents.models import Document
    from knowrithm.domains.documents.pipeline.ingest import prepare, store_chunks
    from knowrithm.infra.db import db, utcnow
    from knowrithm.integrations.storage import get_storage

    storage = get_storage(app.config["SETTINGS"])
    embedder = agent_embedder(agent)
    started = time.perf_counter()
    chunks_total = 0
    for start in range(0, len(corpus), batch_docs):
        prepared = []
        for corpus_id, title, text in corpus[start:start + batch_docs]:
            doc_id = uuid.uuid4()
            data = f"{title}\n\n{text}".encode()
            stored = storage.save(f"{agent.company_id}/{agent.id}/{doc_id}/{corpus_id}.txt", io.BytesIO(data))
            doc = Document(id=doc_id, company_id=agent.company_id, agent_id=agent.id, original_filename=f"{corpus_id}.txt",
                           filename=f"{corpus_id}.txt", title=title[:500] or None, document_type="txt",
                           storage_path=stored.key, file_size=stored.size, content_hash=stored.sha256,
                           status="processing", processing_started_at=utcnow(), extra_metadata={"corpus_id": corpus_id})
            db.session.add(doc)
            db.session.commit()
            prepared.append(prepare(doc))
        texts = [c.embedding_text() for p in prepared for c in p.chunks]
        vectors = iter(embed_in_batches(embedder, texts, batch_size=32))
        for p in prepared:
            chunk_vectors = [next(vectors) for _ in p.chunks]
            p.document.embedded_at = utcnow()
            chunks_total += store_chunks(p.document, p.chunks, chunk_vectors, embedder.model_key)
            p.document.status, p.document.progress, p.document.processed_at = "processed", 100, utcnow()
        agent.active_embedding_model = embedder.model_key
        db.session.commit()
        done = min(start + batch_docs, len(corpus))
        if done % 1024 < batch_docs or done == len(corpus):
            print(f"  ingested {done}/{len(corpus)} documents ({time.perf_counter() - started:.0f} s)", flush=True)
    return {"documents": len(corpus), "chunks": chunks_total, "seconds": time.perf_counter() - started}


def evaluate(app, agent, queries, qrels, mode: str) -> dict:
    from sqlalchemy import select

    from knowrithm.domains.documents.models import Document
    from knowrithm.domains.search.service import search_chunks
    from knowrithm.infra.db import db

    names = dict(db.session.execute(select(Document.id, Document.original_filename)
                                    .where(Document.agent_id == agent.id)).all())
    from knowrithm.domains.search import service

    # "hybrid-rrf" / "hybrid-convex" force a fusion; plain "hybrid" is the platform default.
    mode, _, fusion = mode.partition("-")
    default_fusion = service.FUSION
    service.FUSION = fusion or default_fusion
    from knowrithm.integrations.embeddings import query_cache

    query_cache._CACHE.clear()  # each mode's latency includes embedding its queries
    ndcgs, recalls, latencies = [], [], []
    for qid, text in queries.items():
        t0 = time.perf_counter()
        results = search_chunks(agent_id=agent.id, query=text, limit=100, mode=mode)
        latencies.append((time.perf_counter() - t0) * 1000)
        ranked: list[str] = []
        for r in results:
            corpus_id = names[uuid.UUID(r["document_id"])].removesuffix(".txt")
            if corpus_id not in ranked:
                ranked.append(corpus_id)
        ndcgs.append(ndcg_at_10(ranked, qrels[qid]))
        recalls.append(recall_at_100(ranked, qrels[qid]))
    service.FUSION = default_fusion
    latencies.sort()
    return {"mode": mode + (f" ({fusion})" if fusion else ""), "ndcg10": statistics.fmean(ndcgs), "recall100": statistics.fmean(recalls),
            "p50_ms": latencies[len(latencies) // 2], "p95_ms": latencies[int(len(latencies) * 0.95) - 1]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    parser.add_argument("--qrels", type=Path, default=None, help="qrels TSV (default: <data>/qrels/train.tsv)")
    parser.add_argument("--queries", default=None, help="comma-separated query ids (default: every judged query)")
    parser.add_argument("--modes", default="keyword,vector,hybrid",
                        help="comma list of keyword, vector, hybrid, hybrid-rrf, hybrid-convex")
    parser.add_argument("--db-dir", type=Path, default=None, help="keep the database here between runs")
    parser.add_argument("--limit-docs", type=int, default=None, help="ingest only the first N documents")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime/torch threads")
    args = parser.parse_args(argv)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    qrels_path = args.qrels or args.data / "qrels" / "train.tsv"
    db_dir = args.db_dir or Path(os.environ.get("TMPDIR", "/tmp")) / f"knowrithm-bench-{os.getpid()}"
    db_dir.mkdir(parents=True, exist_ok=True)
    app, pg = make_app(db_dir)
    try:
        from knowrithm.infra.tenancy import company_scope

        with app.app_context():
            corpus_name = args.data.name + (f"-{args.limit_docs}" if args.limit_docs else "")
            agent, fresh = ensure_agent(corpus_name)
            with company_scope(agent.company_id):
                corpus = load_corpus(args.data, args.limit_docs)
                if not fresh:  # resume an interrupted ingestion: only documents not yet processed
                    corpus = missing_documents(agent, corpus)
                if corpus:
                    print(f"ingesting {len(corpus)} documents through the pipeline ...", flush=True)
                    stats = ingest(app, agent, corpus)
                    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                    print(f"ingestion: {stats['documents']} documents, {stats['chunks']} chunks in "
                          f"{stats['seconds']:.1f} s ({stats['documents'] / stats['seconds']:.1f} docs/s); "
                          f"peak RSS {rss:.0f} MiB", flush=True)
                subset = set(args.queries.split(",")) if args.queries else None
                queries, qrels = load_queries(args.data, qrels_path, subset)
                print(f"{len(queries)} queries judged in {qrels_path.name}")
                results = {}
                for mode in args.modes.split(","):
                    evaluate(app, agent, dict(list(queries.items())[:5]), qrels, mode)  # warm caches
                    r = evaluate(app, agent, queries, qrels, mode)
                    results[mode] = r
                    print(f"{mode:13s} nDCG@10={r['ndcg10']:.4f} Recall@100={r['recall100']:.4f} "
                          f"latency p50={r['p50_ms']:.1f} ms p95={r['p95_ms']:.1f} ms", flush=True)
        final = results.get("hybrid") or list(results.values())[-1]
        print(f"nDCG@10={final['ndcg10']:.4f} Recall@100={final['recall100']:.4f}")
    finally:
        pg.stop()
        if args.db_dir is None:  # a throwaway database: do not leave gigabytes in /tmp
            import shutil

            shutil.rmtree(db_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
