"""Retrieval quality and latency on BEIR SciFact, through the platform's own code.

The corpus goes through the production path: the upload service `POST /document/upload` calls
(`upload_documents`, one call per 100 files), the `process_document` tasks on the `slow` queue
of a real Celery worker running in this process (threads), i.e. shared embedding batches and
bulk chunk writes (documents/pipeline/batch.py), into one agent of one company in an embedded
PostgreSQL (+ Redis as the broker). It prints documents/s, the peak RSS of the process (API
service + worker + model), the whole node's peak memory (this process, PostgreSQL and Redis,
as PSS), and with --naive the same texts through a naive loop over the
same ONNX model in the same run (batch 64 in corpus order, padding to each batch's longest
text), so the pipeline's ratio to it. Queries go through `search_chunks`, the function chat uses. Chunk hits are folded to documents (first
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
    from knowrithm.infra.embedded import EmbeddedPostgres, EmbeddedRedis

    pg, redis = EmbeddedPostgres(db_dir / "pg"), EmbeddedRedis(db_dir / "redis")
    uri, redis_url = pg.start("knowrithm_bench"), redis.start()
    settings = Settings(_env_file=None, SQLALCHEMY_DATABASE_URI=uri, REDIS_URL=redis_url,
                        UPLOAD_FOLDER=str(db_dir / "uploads"), MAX_FILE_SIZE=10 * 1024 * 1024,
                        SUPER_ADMIN_PASSWORD="bench-only-password-1", LOG_JSON=False, LOG_LEVEL="WARNING")
    app = create_app(settings)
    with app.app_context():
        bootstrap(app)
    return app, (pg, redis)


def ensure_agent(corpus_name: str):
    from sqlalchemy import select

    from knowrithm.domains.agents.models import Agent
    from knowrithm.domains.auth.models import User
    from knowrithm.domains.companies.models import Company
    from knowrithm.infra.db import db

    agent = db.session.execute(select(Agent).where(Agent.name == f"bench-{corpus_name}")
                               .execution_options(all_companies=True)).scalar_one_or_none()
    if agent is not None:
        user = db.session.execute(select(User.id).where(User.company_id == agent.company_id)).scalar_one()
        return agent, user, False
    company = Company(name=f"Bench {corpus_name}", email=f"bench-{uuid.uuid4().hex[:8]}@bench.test")
    db.session.add(company)
    db.session.flush()
    user = User(company_id=company.id, email=f"bench-{uuid.uuid4().hex[:8]}@bench.test",
                username=f"bench_{uuid.uuid4().hex[:8]}", password_hash="!", role="admin", status="active")
    agent = Agent(id=uuid.uuid4(), company_id=company.id, name=f"bench-{corpus_name}", status="active",
                  personality_traits={}, capabilities=[], operating_hours={}, languages=[])
    db.session.add_all([user, agent])
    db.session.commit()
    return agent, user.id, True


def missing_documents(agent, corpus):
    from sqlalchemy import delete, select

    from knowrithm.domains.documents.models import Document
    from knowrithm.infra.db import db

    db.session.execute(delete(Document).where(Document.agent_id == agent.id, Document.status != "processed"))
    db.session.commit()
    done = set(db.session.execute(select(Document.original_filename).where(Document.agent_id == agent.id)).scalars())
    return [row for row in corpus if f"{row[0]}.txt" not in done]


def ingest(app, agent, user_id, corpus, files_per_upload: int = 100, workers: int = 2) -> dict:
    """Upload through the upload service; a Celery worker in this process indexes (the production path)."""
    from celery.contrib.testing.worker import start_worker
    from sqlalchemy import func, select
    from werkzeug.datastructures import FileStorage

    from knowrithm.domains.documents.models import Document
    from knowrithm.domains.documents.upload import upload_documents
    from knowrithm.infra.db import db
    from knowrithm.infra.tenancy import company_scope

    agent_id, company_id = agent.id, agent.company_id
    started = time.perf_counter()
    uploaded = 0
    with start_worker(app.extensions["celery"], pool="threads", concurrency=workers, queues=["slow"],
                      perform_ping_check=False, loglevel="WARNING", shutdown_timeout=60):
        for start in range(0, len(corpus), files_per_upload):
            files = [FileStorage(io.BytesIO(f"{title}\n\n{text}".encode()), filename=f"{corpus_id}.txt",
                                 content_type="text/plain")
                     for corpus_id, title, text in corpus[start:start + files_per_upload]]
            with app.test_request_context(), company_scope(company_id):
                body, _ = upload_documents(company_id=company_id, user_id=user_id, agent_id=agent_id, files=files,
                                           urls=[], metadata={})
                uploaded += len(body.get("documents") or [])
                db.session.remove()
        last = -1
        while True:
            with app.app_context(), company_scope(company_id):
                counts = dict(db.session.execute(select(Document.status, func.count()).where(
                    Document.agent_id == agent_id).group_by(Document.status)).all())
                db.session.remove()
            done = counts.get("processed", 0) + counts.get("failed", 0)
            if done // 1000 != last // 1000:
                print(f"  processed {done}/{uploaded} documents ({time.perf_counter() - started:.0f} s)", flush=True)
            last = done
            if done >= uploaded:
                break
            time.sleep(0.5)
    with app.app_context(), company_scope(company_id):
        from knowrithm.domains.documents.models import DocumentChunk

        chunks = db.session.execute(select(func.count(DocumentChunk.id))
                                    .where(DocumentChunk.agent_id == agent_id)).scalar_one()
        db.session.remove()
    return {"documents": uploaded, "failed": counts.get("failed", 0), "chunks": chunks,
            "seconds": time.perf_counter() - started}


def naive_loop(corpus, batch: int = 64) -> float:
    """Texts/s of the same texts through the same ONNX weights, directly: batches of 64 in corpus
    order, truncated to 256 tokens, padded to each batch's longest text."""
    import numpy as np

    from knowrithm.integrations.embeddings.base import EmbeddingConfig
    from knowrithm.integrations.embeddings.local import LocalEmbedder, _runtime

    runtime = _runtime(EmbeddingConfig(model="all-MiniLM-L6-v2"))
    texts = [f"{title}\n\n{text}" for _, title, text in corpus]

    def run(chunk):  # the tokenizer pads each call to its longest text
        encodings = runtime.tokenizer.encode_batch(chunk)
        arrays = [np.array([getattr(e, f) for e in encodings], dtype=np.int64)
                  for f in ("ids", "attention_mask", "type_ids")]
        LocalEmbedder._embed_batch(runtime, *arrays, np)

    run(texts[:8])  # warm-up
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        run(texts[i:i + batch])
    return len(texts) / (time.perf_counter() - started)


def evaluate(app, agent, queries, qrels, mode: str) -> dict:
    from sqlalchemy import select

    from knowrithm.domains.documents.models import Document
    from knowrithm.domains.search.service import search_chunks
    from knowrithm.infra.db import db

    agent_id = agent.id  # read once: the ORM object is not touched inside the timed loop
    names = dict(db.session.execute(select(Document.id, Document.original_filename)
                                    .where(Document.agent_id == agent_id)).all())
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
        results = search_chunks(agent_id=agent_id, query=text, limit=100, mode=mode)
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


class NodeMemory:
    """The peak of the whole node's memory while it runs: this process (API service, worker,
    model), the embedded PostgreSQL (postmaster and every backend) and Redis. Summed as PSS, so
    pages shared between PostgreSQL's processes count once."""

    def __init__(self, marker: Path, interval: float = 0.5):
        import threading

        self.marker, self.interval, self.peak = str(marker), interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _processes(self):
        import psutil

        found = {psutil.Process().pid: psutil.Process()}
        for proc in psutil.process_iter(["cmdline"]):
            try:
                if self.marker in " ".join(proc.info["cmdline"] or []):
                    for p in (proc, *proc.children(recursive=True)):
                        found[p.pid] = p
            except psutil.Error:
                pass
        return found.values()

    def sample(self) -> int:
        import psutil

        total = 0
        for proc in self._processes():
            try:
                total += proc.memory_full_info().pss
            except psutil.Error:  # a backend that just exited
                pass
        self.peak = max(self.peak, total)
        return total

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self):
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.sample()


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
    parser.add_argument("--workers", type=int, default=2, help="Celery worker threads indexing the uploads")
    parser.add_argument("--naive", action="store_true",
                        help="also time a naive model loop over the same texts, before ingestion")
    args = parser.parse_args(argv)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    qrels_path = args.qrels or args.data / "qrels" / "train.tsv"
    db_dir = args.db_dir or Path(os.environ.get("TMPDIR", "/tmp")) / f"knowrithm-bench-{os.getpid()}"
    db_dir.mkdir(parents=True, exist_ok=True)
    app, services = make_app(db_dir)
    try:
        from knowrithm.infra.db import db
        from knowrithm.infra.tenancy import company_scope

        with app.app_context():
            corpus_name = args.data.name + (f"-{args.limit_docs}" if args.limit_docs else "")
            agent, user_id, fresh = ensure_agent(corpus_name)
            with company_scope(agent.company_id):
                corpus = load_corpus(args.data, args.limit_docs)
                if not fresh:  # resume an interrupted ingestion: only documents not yet processed
                    corpus = missing_documents(agent, corpus)
                if corpus:
                    naive = None
                    if args.naive:  # in a child process: its model arena must not count in our peak RSS
                        import multiprocessing
                        from concurrent.futures import ProcessPoolExecutor

                        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                            naive = pool.submit(naive_loop, corpus).result()
                    if naive:
                        print(f"naive model loop: {len(corpus)} texts at {naive:.1f} texts/s (load average "
                              f"{os.getloadavg()[0]:.1f})", flush=True)
                    print(f"ingesting {len(corpus)} documents through the upload service and a worker ...", flush=True)
                    agent_id = agent.id
                    with NodeMemory(db_dir) as node:
                        stats = ingest(app, agent, user_id, corpus, workers=args.workers)
                    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                    rate = stats["documents"] / stats["seconds"]
                    print(f"ingestion: {stats['documents']} documents ({stats['failed']} failed), {stats['chunks']} "
                          f"chunks in {stats['seconds']:.1f} s ({rate:.1f} docs/s"
                          + (f", {rate / naive:.2f}x the naive loop" if naive else "")
                          + f"); peak RSS {rss:.0f} MiB; whole node (this process, PostgreSQL, Redis) peak "
                          f"{node.peak / 2**20:.0f} MiB PSS (load average {os.getloadavg()[0]:.1f})", flush=True)
                    agent = db.session.get(type(agent), agent_id)
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
        for service in reversed(services):
            service.stop()
        if args.db_dir is None:  # a throwaway database: do not leave gigabytes in /tmp
            import shutil

            shutil.rmtree(db_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
