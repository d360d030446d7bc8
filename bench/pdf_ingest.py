"""A 100-page text PDF from upload to searchable, through the platform's own pipeline.

    python bench/pdf_ingest.py [--pages 100] [--http]

Builds a PDF of real prose (SciFact abstracts, ~350 words a page) with reportlab, stores it
and runs `ingest_document` (the code the `slow` worker runs: parse -> chunk -> embed with the
offline model -> index) in an embedded PostgreSQL, then searches for a sentence of the last
page. Prints pages/s and the seconds until the document is searchable.

`--http` measures the whole path instead: a node (embedded PostgreSQL + Redis, gunicorn,
the Celery workers as `knowrithm up` lays them out) is started, the PDF is uploaded with
`POST /document/upload`, and the clock stops when `POST /search/document` first returns the
last page's sentence as its top hit (polled every 100 ms).
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from retrieval import ensure_agent, make_app  # noqa: E402


def build_pdf(pages: int, corpus: Path) -> tuple[bytes, str]:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    texts = [json.loads(line)["text"] for line in open(corpus / "corpus.jsonl")][: pages * 3]
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    last = ""
    for page in range(pages):
        y = 800
        words = " ".join(texts[page * 3: page * 3 + 3]).split()[:350]
        line = []
        for word in words:
            line.append(word)
            if len(" ".join(line)) > 95:
                pdf.drawString(40, y, " ".join(line))
                y -= 14
                line = []
        pdf.drawString(40, y, " ".join(line))
        last = " ".join(words[:12])
        pdf.showPage()
    pdf.save()
    return buffer.getvalue(), last


def over_http(data: bytes, last_sentence: str, pages: int) -> None:
    import requests
    from chat_streaming import Node
    from client import wait_task

    with tempfile.TemporaryDirectory() as tmp:
        node = Node(Path(tmp), "gevent", 2)
        node.start()
        try:
            s, url = requests.Session(), node.url
            reg = s.post(f"{url}/api/v1/auth/register", json={
                "first_name": "Bench", "last_name": "Mark", "email": "pdf@bench.test", "password": "Bench-Pass-123!",
                "company_name": "Bench PDF", "accept_terms": True}).json()
            s.headers["Authorization"] = f"Bearer {reg['access_token']}"
            agent_id = wait_task(s, url, s.post(f"{url}/api/v1/agent", json={"name": "PDF bench"}).json())["agent"]["id"]
            started = time.perf_counter()
            upload = s.post(f"{url}/api/v1/document/upload", data={"agent_id": agent_id},
                            files={"files": ("report.pdf", data, "application/pdf")})
            uploaded = time.perf_counter() - started
            doc_id = upload.json()["documents"][0]["id"]
            while True:
                listed = s.get(f"{url}/api/v1/document", params={"per_page": 100}).json()["documents"]
                doc = next(d for d in listed if d["id"] == doc_id)
                if doc["status"] == "failed":
                    raise RuntimeError(doc)
                if doc["status"] == "processed":
                    processed = time.perf_counter() - started
                    break
                time.sleep(0.1)
            while True:
                hits = s.post(f"{url}/api/v1/search/document",
                              json={"query": last_sentence, "agent_id": agent_id, "limit": 3}).json()["results"]
                if hits and last_sentence.split()[0] in hits[0]["content"]:
                    searchable = time.perf_counter() - started
                    break
                time.sleep(0.1)
            print(f"pdf: {pages} pages, {len(data) / 1024:.0f} KiB, {doc.get('word_count')} words, "
                  f"upload answered in {uploaded:.2f} s (HTTP {upload.status_code})")
            from datetime import datetime

            at = {k: datetime.fromisoformat(doc[k]) for k in ("created_at", "processing_started_at", "parsed_at",
                                                              "chunked_at", "embedded_at", "processed_at")}
            steps = list(at.items())
            print("phases: " + ", ".join(f"{b[0].removesuffix('_at')} +{(b[1] - a[1]).total_seconds():.1f} s"
                                         for a, b in zip(steps, steps[1:])))
            print(f"over HTTP: processed after {processed:.1f} s; last page's sentence is the top search hit "
                  f"after {searchable:.1f} s ({pages / searchable:.2f} pages/s end to end)")
        finally:
            node.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    parser.add_argument("--http", action="store_true", help="upload and search through a running node")
    args = parser.parse_args()
    data, last_sentence = build_pdf(args.pages, args.data)
    if args.http:
        over_http(data, last_sentence, args.pages)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        app, pg = make_app(Path(tmp))
        try:
            from knowrithm.domains.documents.models import Document
            from knowrithm.domains.documents.pipeline.ingest import ingest_document
            from knowrithm.domains.search.service import search_chunks
            from knowrithm.infra.db import db
            from knowrithm.infra.tenancy import company_scope
            from knowrithm.integrations.storage import get_storage

            with app.app_context():
                agent, _ = ensure_agent("pdf")
                started = time.perf_counter()
                doc = Document(id=uuid.uuid4(), company_id=agent.company_id, agent_id=agent.id,
                               original_filename="report.pdf", filename="report.pdf", document_type="pdf",
                               status="pending")
                stored = get_storage(app.config["SETTINGS"]).save(f"bench/{doc.id}/source.pdf", io.BytesIO(data))
                doc.storage_path, doc.file_size, doc.content_hash = stored.key, stored.size, stored.sha256
                db.session.add(doc)
                db.session.commit()
                with company_scope(agent.company_id):
                    result = ingest_document(str(doc.id))
                    indexed = time.perf_counter() - started
                    hits = search_chunks(agent_id=agent.id, query=last_sentence, limit=3)
                searchable = time.perf_counter() - started
                doc = db.session.get(Document, doc.id)
                print(f"pdf: {args.pages} pages, {len(data) / 1024:.0f} KiB, {doc.word_count} words, "
                      f"{result.get('chunks')} chunks, status {doc.status}")
                print(f"indexed in {indexed:.1f} s ({args.pages / indexed:.2f} pages/s); "
                      f"searchable (first search answered) after {searchable:.1f} s")
                print(f"last page found first: {bool(hits) and last_sentence.split()[0] in hits[0]['content']}")
        finally:
            pg.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
