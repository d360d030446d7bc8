"""Data lifecycle at scale: export, retention, backup, restore and erasure of one large company.

    python bench/lifecycle.py [--documents 1000] [--messages 10000] [--request-logs 1000000]

An embedded PostgreSQL (pgvector) and an embedded Redis in a temporary folder. One company
gets `--documents` documents (a ~2 KB text file each in the upload folder, 5 chunks each with
random 384-dimension vectors; the chunk triggers fill the BM25 postings), 1,000 conversations
holding `--messages` messages, 1,000 leads; a second company stays alongside. Then, timed:
1. the company export (the zip the export task builds: JSON per table + original files);
2. one nightly retention run after `--request-logs` request-log rows were added to the company,
   90% of them older than the 90-day default (so the run deletes 90% in 5,000-row batches);
3. `knowrithm backup` (pg_dump custom format + uploads tarball + manifest) and its sizes;
4. `knowrithm restore` of that backup over the live database;
5. erasure of the whole company (rows, files, Redis).
"""
from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def make_app(tmp: Path):
    from knowrithm.app import create_app
    from knowrithm.bootstrap import bootstrap
    from knowrithm.config import Settings
    from knowrithm.infra.embedded import EmbeddedPostgres, EmbeddedRedis

    pg, rd = EmbeddedPostgres(tmp / "pg"), EmbeddedRedis(tmp / "redis")
    settings = Settings(_env_file=None, SQLALCHEMY_DATABASE_URI=pg.start("knowrithm_bench"), REDIS_URL=rd.start(),
                        UPLOAD_FOLDER=str(tmp / "uploads"), SUPER_ADMIN_PASSWORD="bench-only-password-1",
                        LOG_JSON=False, LOG_LEVEL="WARNING")
    app = create_app(settings)
    with app.app_context():
        bootstrap(app)
    return app, settings, pg, rd


def fill(settings, name: str, documents: int, messages: int) -> uuid.UUID:
    from sqlalchemy import text

    from knowrithm.domains.agents.models import Agent
    from knowrithm.domains.auth.models import User
    from knowrithm.domains.companies.models import Company
    from knowrithm.infra.db import db
    from knowrithm.integrations.storage import get_storage

    company = Company(name=name, email=f"{name.lower()}@bench.test")
    db.session.add(company)
    db.session.flush()
    db.session.add(User(company_id=company.id, email=f"admin@{name.lower()}.test", username=f"admin-{name.lower()}",
                        password_hash="x", role="admin", status="active"))
    agent = Agent(company_id=company.id, name=f"{name} helper", status="active")
    db.session.add(agent)
    db.session.commit()
    cid, aid = company.id, agent.id
    storage = get_storage(settings)
    docs = []
    for n in range(documents):
        doc_id = uuid.uuid4()
        body = (f"Document {n} of {name}. " + "Refunds are processed within five business days. " * 40).encode()
        key = f"{cid}/{aid}/{doc_id}/doc-{n}.txt"
        storage.save(key, io.BytesIO(body))
        docs.append({"id": doc_id, "c": cid, "a": aid, "f": f"doc-{n}.txt", "k": key, "s": len(body)})
    db.session.execute(text("INSERT INTO documents (id, company_id, agent_id, original_filename, filename, "
                            "document_type, file_size, status, progress, storage_path, metadata, created_at, "
                            "updated_at) VALUES (:id, :c, :a, :f, :f, 'txt', :s, 'processed', 100, :k, '{}', now(), "
                            "now())"), docs)
    db.session.execute(text("""
        INSERT INTO document_chunks (id, company_id, agent_id, document_id, chunk_index, content, word_count,
            token_count, embedding, embedding_model, embedding_dim, metadata, created_at, updated_at)
        SELECT gen_random_uuid(), d.company_id, d.agent_id, d.id, g,
               'Section ' || g || ' of ' || d.original_filename || ': refunds, shipping and support hours.',
               12, 16, (SELECT array_agg(random() - 0.5) FROM generate_series(1, 384) WHERE g > 0)::vector,
               'bench', 384, '{}', now(), now()
        FROM documents d CROSS JOIN generate_series(1, 5) g WHERE d.company_id = :c"""), {"c": cid})
    per = max(1, messages // 1000)
    db.session.execute(text("""
        INSERT INTO leads (id, company_id, agent_id, email, first_name, status, consent_data_processing,
            consent_marketing, is_active, metadata, created_at, updated_at)
        SELECT gen_random_uuid(), :c, :a, 'visitor' || g || '@' || :n || '.test', 'Visitor', 'new', true, false,
               true, '{}', now(), now() FROM generate_series(1, 1000) g"""), {"c": cid, "a": aid, "n": name.lower()})
    db.session.execute(text("""
        INSERT INTO conversations (id, company_id, agent_id, entity_type, entity_id, status, metadata,
            max_context_length, context_strategy, message_count, total_tokens, tags, created_at, updated_at,
            last_activity)
        SELECT gen_random_uuid(), :c, :a, 'lead', l.id, 'active', '{}', 4000, 'recent', :per, 0, '[]', now(),
               now(), now() FROM leads l WHERE l.company_id = :c"""), {"c": cid, "a": aid, "per": per})
    db.session.execute(text("""
        INSERT INTO messages (id, company_id, conversation_id, agent_id, role, content, content_type, status,
            sources, metadata, created_at, updated_at)
        SELECT gen_random_uuid(), :c, v.id, :a, CASE WHEN g % 2 = 0 THEN 'assistant' ELSE 'user' END,
               'Message ' || g || ': how long do refunds take? Five business days.', 'text', 'completed', '[]',
               '{}', now(), now()
        FROM conversations v CROSS JOIN generate_series(1, :per) g WHERE v.company_id = :c"""),
                       {"c": cid, "a": aid, "per": per})
    db.session.commit()
    return cid


def add_request_logs(company_id, count: int) -> None:
    from sqlalchemy import text

    from knowrithm.infra.db import db

    db.session.execute(text("""
        INSERT INTO api_request_logs (id, company_id, method, endpoint, status_code, response_time_ms, created_at)
        SELECT gen_random_uuid(), :c, 'GET', '/api/v1/agent', 200, 12.5,
               now() - CASE WHEN g % 10 = 0 THEN interval '10 days' ELSE interval '120 days' END
                     - (g % 1000) * interval '1 second'
        FROM generate_series(1, :n) g"""), {"c": company_id, "n": count})
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE api_request_logs"))  # what autovacuum does after a bulk load


def timed(label: str, fn):
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    print(f"{label}: {seconds:.2f} s")
    return result, seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--request-logs", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="knowrithm-bench-lifecycle-") as tmp:
        tmp = Path(tmp)
        app, settings, pg, rd = make_app(tmp)
        try:
            run(app, settings, tmp, args)
        finally:
            rd.stop()
            pg.stop()
    return 0


def run(app, settings, tmp: Path, args) -> None:
    from sqlalchemy import text

    from knowrithm.domains.lifecycle import backup, erasure, export, retention
    from knowrithm.infra.db import db

    with app.app_context():
        cid, _ = timed("fill", lambda: fill(settings, "Bench", args.documents, args.messages))
        fill(settings, "Other", 50, 500)
        counts = {t: db.session.execute(text(f"SELECT count(*) FROM {t} WHERE company_id = :c"), {"c": cid}).scalar()
                  for t in ("documents", "document_chunks", "conversations", "messages", "leads")}
        print("company:", counts)

        out, _ = timed("export", lambda: export.export_company(company_id=cid, export_id=str(uuid.uuid4())))
        print(f"export size: {out['size'] / 1e6:.1f} MB ({out['row_counts']['files']} files)")

        timed(f"insert {args.request_logs:,} request-log rows", lambda: add_request_logs(cid, args.request_logs))
        summary, _ = timed("nightly retention run", retention.enforce_all)
        print(f"retention removed {summary['removed']}, complete={summary['complete']}")

        manifest, _ = timed("backup", lambda: backup.create_backup(settings, str(tmp / "backups")))
        sizes = {n: f"{m['size'] / 1e6:.1f} MB" for n, m in manifest["files"].items()}
        print(f"backup sizes: {sizes}")
        db.session.remove()
        db.engine.dispose()
        restored, _ = timed("restore", lambda: backup.restore_backup(settings, manifest["location"]))
        print(f"restore counts match the manifest: {restored['matches_manifest']}")
        db.engine.dispose()

        done, _ = timed("erase company", lambda: erasure.erase_company(company_id=cid, actor=None))
        print(f"erased {done['certificate']['total_rows']:,} rows, {done['files_removed']} files")


if __name__ == "__main__":
    raise SystemExit(main())
