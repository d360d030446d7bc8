"""A 100-page text PDF from upload to searchable, through the platform's own pipeline.

    python bench/pdf_ingest.py [--pages 100]

Builds a PDF of real prose (SciFact abstracts, ~350 words a page) with reportlab, stores it
and runs `ingest_document` (the code the `slow` worker runs: parse -> chunk -> embed with the
offline model -> index) in an embedded PostgreSQL, then searches for a sentence of the last
page. Prints pages/s and the seconds until the document is searchable.
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    args = parser.parse_args()
    data, last_sentence = build_pdf(args.pages, args.data)
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
