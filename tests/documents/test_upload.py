"""J1 upload through `knowrithm-py`: every format end to end, and every kind of bad input."""
from __future__ import annotations

import shutil

import pytest
from tests.documents import files as make
from tests.documents.conftest import wait_documents

needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract-ocr not installed")


def _chunks(app, document_id):
    from sqlalchemy import select, text

    from knowrithm.domains.documents.models import DocumentChunk
    from knowrithm.infra.db import db

    with app.app_context():
        rows = db.session.execute(select(DocumentChunk).where(DocumentChunk.document_id == document_id)
                                  .order_by(DocumentChunk.chunk_index)).scalars().all()
        # BM25 length of each chunk, from its postings (kept by the chunk triggers).
        lengths = dict(db.session.execute(text("SELECT chunk_id, max(dl) FROM chunk_terms WHERE document_id = :d "
                                               "GROUP BY chunk_id"), {"d": document_id}).all())
        out = [(c.chunk_index, c.content, c.page_number, c.heading_path, c.embedding_dim, lengths.get(c.id, 0))
               for c in rows]
        db.session.remove()
        return out


def test_upload_every_text_format_is_processed_and_searchable(app, celery_worker, sdk_a, agent_a, upload_and_wait):
    named = {
        "guide.pdf": make.pdf(["Refund policy: refunds are issued within five business days.",
                               "Shipping to Norway takes twelve days."], title="Store guide"),
        "handbook.docx": make.docx("Vacation", ["Employees receive thirty vacation days per year."],
                                   [["Role", "Laptop"], ["Engineer", "ThinkPad"]]),
        "notes.txt": b"The office coffee machine is descaled every Friday.\n\nParking is on level two.",
        "readme.md": b"# Setup\n\nRun the installer twice on Windows.\n\n## Tables\n\n| os | shell |\n|---|---|\n| linux | bash |\n",
        "page.mdx": b"import X from './x'\n\n# Widget\n\n<Callout>The widget supports dark mode.</Callout>\n",
        "site.html": b"<html><head><title>About</title></head><body><nav>Home | Blog</nav><main><h1>About us</h1>"
                     b"<p>Founded in Oslo in 1999 by three sailors.</p></main><footer>copyright</footer></body></html>",
        "prices.csv": make.csv_bytes([["plan", "price"], ["starter", "9 euros"], ["enterprise", "499 euros"]]),
        "faq.json": make.json_bytes([{"question": "Do you ship to Iceland?", "answer": "Yes, by ferry."}]),
        "sheet.xlsx": make.xlsx([["warehouse", "city"], ["north", "Tromso"], ["south", "Kristiansand"]]),
        "deck.pptx": make.pptx([("Roadmap", "The mobile app launches in September.")]),
    }
    body, docs = upload_and_wait(sdk_a, agent_a, named, metadata={"tags": "kb"})
    assert body["success"] is True and body["documents_processed"] == len(named)
    assert body["total_submitted"] == len(named) and body["errors"] == [] and len(body["task_ids"]) == len(named)
    assert {d["status"] for d in docs.values()} == {"processed"}, [d["processing_error"] for d in docs.values()]
    by_name = {d["original_filename"]: d for d in docs.values()}
    assert by_name["guide.pdf"]["page_count"] == 2 and by_name["guide.pdf"]["title"] == "Store guide"
    assert by_name["guide.pdf"]["language"] == "en"
    assert all(d["word_count"] > 0 and d["chunks"] >= 1 for d in docs.values())
    assert all(d["processed_at"] and d["parsed_at"] and d["embedded_at"] and d["progress"] == 100
               for d in docs.values())
    assert by_name["notes.txt"]["metadata"]["tags"] == "kb"
    chunks = _chunks(app, by_name["guide.pdf"]["id"])
    assert {c[2] for c in chunks} == {1}  # both short pages pack into one chunk that starts on page 1
    assert all(c[4] == 384 and c[5] > 0 for c in chunks)
    md_chunks = _chunks(app, by_name["readme.md"]["id"])
    assert any(c[3] == "Setup > Tables" and "os: linux | shell: bash" in c[1] for c in md_chunks)
    html_text = " ".join(c[1] for c in _chunks(app, by_name["site.html"]["id"]))
    assert "Oslo" in html_text and "Blog" not in html_text and "copyright" not in html_text
    mdx_text = " ".join(c[1] for c in _chunks(app, by_name["page.mdx"]["id"]))
    assert "dark mode" in mdx_text and "import" not in mdx_text

    expectations = {"ferry Iceland": "faq.json", "vacation days": "handbook.docx", "Tromso warehouse": "sheet.xlsx",
                    "mobile app September": "deck.pptx", "enterprise plan price": "prices.csv",
                    "refunds business days": "guide.pdf", "coffee machine descaled": "notes.txt"}
    for query, expected in expectations.items():
        results = sdk_a.analytics.search_documents(query, agent_a, limit=3)["results"]
        assert results and results[0]["document_id"] == by_name[expected]["id"], (query, results[:1])


@needs_tesseract
def test_ocr_reads_images_and_scanned_pdfs(app, celery_worker, sdk_a, agent_a, upload_and_wait):
    named = {"receipt.png": make.png(["Invoice number 4471", "Total due ninety dollars"]),
             "scan.pdf": make.scanned_pdf(["Scanned contract clause seven", "Termination needs thirty days"])}
    body, docs = upload_and_wait(sdk_a, agent_a, named)
    by_name = {d["original_filename"]: d for d in docs.values()}
    assert all(d["status"] == "processed" for d in docs.values()), [d["processing_error"] for d in docs.values()]
    assert by_name["scan.pdf"]["page_count"] == 1 and by_name["scan.pdf"]["metadata"]["ocr_pages"] == 1
    png_text = " ".join(c[1] for c in _chunks(app, by_name["receipt.png"]["id"]))
    scan_text = " ".join(c[1] for c in _chunks(app, by_name["scan.pdf"]["id"]))
    assert "4471" in png_text and "Termination" in scan_text
    hit = sdk_a.analytics.search_documents("termination thirty days", agent_a)["results"][0]
    assert hit["document_id"] == by_name["scan.pdf"]["id"] and hit["page_number"] == 1


def test_partial_batch_is_207_with_per_file_errors(app, celery_worker, sdk_a, agent_a, upload_and_wait):
    named = {"good.txt": b"Our support line opens at eight.", "virus.exe": b"MZ\x90\x00binary",
             "empty.txt": b"", "fake.pdf": b"this is not a pdf at all",
             "bomb.docx": make.zip_bomb_docx()}
    body, docs = upload_and_wait(sdk_a, agent_a, named)
    assert body["documents_processed"] == 1 and body["documents_failed"] == 4 and body["total_submitted"] == 5
    assert body["error_summary"] == {"UNSUPPORTED_TYPE": 1, "EMPTY_FILE": 1, "CORRUPT_FILE": 1, "UNSAFE_ARCHIVE": 1}
    assert any(e.startswith("virus.exe: Unsupported file type") for e in body["errors"])
    assert [d["status"] for d in docs.values()] == ["processed"]


def test_partial_status_code_is_207(http, app, companies, agent_a):
    from tests.conftest import make_api_key

    key, secret = make_api_key(app, companies[0])
    resp = http.post("/api/v1/document/upload", headers={"X-API-Key": key, "X-API-Secret": secret},
                     data={"agent_id": agent_a},
                     files=[("files", ("a.txt", b"hello there friend")), ("file", ("b.exe", b"MZ")),
                            ("files[]", ("c.md", b"# C\n\ncee"))])
    assert resp.status_code == 207, resp.text
    body = resp.json()
    assert body["documents_processed"] == 2 and body["documents_failed"] == 1 and "status" not in body


def test_corrupt_and_encrypted_files_fail_with_a_reason(app, celery_worker, sdk_a, agent_a, upload_and_wait):
    named = {"locked.pdf": make.pdf(["top secret"], password="hunter2"),
             "broken.pdf": b"%PDF-1.4\n" + b"\x00garbage" * 50,
             "broken.xlsx": b"PK\x03\x04" + b"junk" * 40}
    body, docs = upload_and_wait(sdk_a, agent_a, {k: v for k, v in named.items() if k != "broken.xlsx"})
    reasons = {d["original_filename"]: d["processing_error"] for d in docs.values()}
    assert all(d["status"] == "failed" for d in docs.values())
    assert "password" in reasons["locked.pdf"] and "corrupt" in reasons["broken.pdf"]
    with pytest.raises(Exception) as err:  # only a corrupt file: nothing usable -> 400
        upload_and_wait(sdk_a, agent_a, {"broken.xlsx": named["broken.xlsx"]})
    assert "corrupt" in str(err.value).lower() or "no document" in str(err.value).lower()


def test_no_files_and_no_urls_is_400(http, app, companies, agent_a):
    from tests.conftest import make_api_key

    key, secret = make_api_key(app, companies[0])
    headers = {"X-API-Key": key, "X-API-Secret": secret}
    resp = http.post("/api/v1/document/upload", headers=headers, data={"agent_id": agent_a})
    assert resp.status_code == 400 and resp.json()["error_code"] == "NO_DOCUMENTS"
    resp = http.post("/api/v1/document/upload", headers=headers, json={"urls": ["http://x.test/a"]})
    assert resp.status_code == 400 and "agent_id" in resp.json()["details"]
    resp = http.post("/api/v1/document/upload", headers=headers, json={"agent_id": "nope", "url": "http://x.test"})
    assert resp.status_code == 400


def test_oversize_file_is_413(http, app, companies, agent_a, settings):
    from tests.conftest import make_api_key

    key, secret = make_api_key(app, companies[0])
    headers = {"X-API-Key": key, "X-API-Secret": secret}
    just_over = b"a" * (settings.MAX_FILE_SIZE + 10)  # under the request cap: refused per file while copying
    resp = http.post("/api/v1/document/upload", headers=headers, data={"agent_id": agent_a},
                     files=[("files", ("big.txt", just_over))])
    assert resp.status_code == 413 and resp.json()["error_code"] == "FILE_TOO_LARGE"
    resp = http.post("/api/v1/document/upload", headers=headers, data={"agent_id": agent_a},
                     files=[("files", ("big.txt", just_over)), ("files", ("ok.txt", b"small file"))])
    assert resp.status_code == 207 and resp.json()["error_summary"] == {"FILE_TOO_LARGE": 1}
    way_over = b"a" * (settings.MAX_FILE_SIZE * 2)  # over the request cap: Werkzeug stops reading
    resp = http.post("/api/v1/document/upload", headers=headers, data={"agent_id": agent_a},
                     files=[("files", ("huge.txt", way_over))])
    assert resp.status_code == 413 and resp.json()["success"] is False


def test_identical_content_is_detected_by_hash(app, celery_worker, sdk_a, agent_a, upload_and_wait):
    body, docs = upload_and_wait(sdk_a, agent_a, {"a.txt": b"Same words in both files."})
    again, _ = upload_and_wait(sdk_a, agent_a, {"copy-of-a.txt": b"Same words in both files."})
    assert again["documents"][0]["duplicate"] is True and again["documents"][0]["id"] in docs
    assert again["task_ids"] == [] and len(sdk_a.documents.list_documents()["documents"]) == 1


def test_urls_are_fetched_by_the_task(app, celery_worker, sdk_a, agent_a, loopback_site, allow_private_urls):
    base, pages = loopback_site
    pages["/pricing"] = ("text/html; charset=utf-8", b"<html><title>Pricing</title><body><h1>Pricing</h1>"
                                                     b"<p>The gold plan costs forty dollars.</p></body></html>")
    pages["/faq.md"] = ("text/markdown", b"# FAQ\n\nWe answer within one hour.")
    body = sdk_a.documents.upload_documents(agent_a, urls=[f"{base}/pricing", f"{base}/faq.md",
                                                           f"{base}/missing"])
    assert body["documents_processed"] == 3
    docs = wait_documents(sdk_a, [d["id"] for d in body["documents"]])
    by_url = {d["source_url"]: d for d in docs.values()}
    assert by_url[f"{base}/pricing"]["status"] == "processed" and by_url[f"{base}/pricing"]["title"] == "Pricing"
    assert by_url[f"{base}/faq.md"]["document_type"] == "markdown"
    assert by_url[f"{base}/missing"]["status"] == "failed" and "404" in by_url[f"{base}/missing"]["processing_error"]
    hit = sdk_a.analytics.search_documents("gold plan cost", agent_a)["results"][0]
    assert hit["source_url"] == f"{base}/pricing"


def test_url_forms_in_multipart(http, app, companies, agent_a):
    from tests.conftest import make_api_key

    key, secret = make_api_key(app, companies[0])
    headers = {"X-API-Key": key, "X-API-Secret": secret}
    resp = http.post("/api/v1/document/upload", headers=headers,
                     data={"agent_id": agent_a, "urls": '["https://a.test/1", "https://a.test/2"]',
                           "url": "https://a.test/3"},
                     files=[("files", ("n.txt", b"note"))])
    assert resp.status_code == 200 and resp.json()["documents_processed"] == 4
    resp = http.post("/api/v1/document/upload", headers=headers,
                     data={"agent_id": agent_a, "urls": "https://b.test/1, https://b.test/2"})
    assert resp.status_code == 200 and resp.json()["documents_processed"] == 2
    resp = http.post("/api/v1/document/upload", headers=headers,
                     data={"agent_id": agent_a, "urls": ["https://c.test/1", "ftp://c.test/2"]})
    assert resp.status_code == 207 and resp.json()["error_summary"] == {"INVALID_URL": 1}


def test_private_urls_are_refused_by_default(app, celery_worker, sdk_a, agent_a, loopback_site, monkeypatch):
    monkeypatch.setattr(app.config["SETTINGS"], "ALLOW_PRIVATE_URLS", False)  # the production default
    base, pages = loopback_site
    pages["/internal"] = ("text/plain", b"internal secrets")
    body = sdk_a.documents.upload_documents(agent_a, url=f"{base}/internal")
    doc = wait_documents(sdk_a, [body["documents"][0]["id"]])[body["documents"][0]["id"]]
    assert doc["status"] == "failed" and "non-public" in doc["processing_error"]


def test_upload_to_another_companys_agent_is_404(app, companies, sdk_b, agent_a, tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"intrusion attempt")
    with pytest.raises(Exception) as err:
        sdk_b.documents.upload_documents(agent_a, file_paths=[path])
    assert "not found" in str(err.value).lower()
    from sqlalchemy import func, select

    from knowrithm.domains.documents.models import Document
    from knowrithm.infra.db import db

    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Document)).scalar_one() == 0
        db.session.remove()
