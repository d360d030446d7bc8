"""Accepting uploads: store each file, record a pending document, queue its ingestion.

Each file and URL gets its own result; one bad file never sinks the batch. Files are
streamed to storage with the size limit enforced while copying, hashed on the way, and
a file whose content this agent already has is answered with the existing document.
"""
from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlparse

from flask import current_app
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from knowrithm.domains.agents.models import Agent
from knowrithm.infra.db import db
from knowrithm.infra.errors import ApiError, ValidationFailed
from knowrithm.infra.tasks import enqueue
from knowrithm.infra.tenancy import get_or_404
from knowrithm.integrations.parsers import ParseError, detect_type, sniff, supported_extensions
from knowrithm.integrations.storage import FileTooLarge, get_storage

from .models import Document
from .schemas import document_out
from .tasks import process_document


@dataclass
class UploadOutcome:
    documents: list[Document] = field(default_factory=list)
    duplicates: list[Document] = field(default_factory=list)
    task_ids: list[str] = field(default_factory=list)
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (name, code, message)


def _error(outcome: UploadOutcome, name: str, code: str, message: str) -> None:
    outcome.errors.append((name, code, message))


def _store_file(outcome: UploadOutcome, *, file: FileStorage, agent: Agent, company_id, user_id,
                metadata: dict) -> Document | None:
    settings = current_app.config["SETTINGS"]
    original = file.filename or "upload"
    doc_type = detect_type(original)  # by extension only: a client's claimed MIME type is not trusted
    if doc_type is None:
        ext = original.rsplit(".", 1)[-1] if "." in original else "(none)"
        _error(outcome, original, "UNSUPPORTED_TYPE",
               f"Unsupported file type '.{ext}'. Supported: {', '.join(supported_extensions())}")
        return None
    try:
        sniff(file.stream, doc_type)
    except ParseError as exc:
        _error(outcome, original, exc.code, str(exc))
        return None
    doc_id = uuid.uuid4()
    safe = secure_filename(original) or f"upload.{doc_type}"
    key = f"{company_id}/{agent.id}/{doc_id}/{safe}"
    storage = get_storage(settings)
    try:
        stored = storage.save(key, file.stream, max_bytes=settings.MAX_FILE_SIZE)
    except FileTooLarge as exc:
        _error(outcome, original, "FILE_TOO_LARGE", f"File too large: {exc}")
        return None
    existing = db.session.execute(
        select(Document).where(Document.agent_id == agent.id, Document.content_hash == stored.sha256)
        .order_by(Document.created_at)
    ).scalars().first()
    if existing is not None:
        storage.delete(key)
        outcome.duplicates.append(existing)
        return None
    doc = Document(id=doc_id, company_id=company_id, agent_id=agent.id, user_id=user_id,
                   original_filename=original[:500], filename=safe[:500], document_type=doc_type,
                   mime_type=(file.mimetype or None), storage_path=stored.key, file_size=stored.size,
                   content_hash=stored.sha256, status="pending", progress=0, extra_metadata=metadata)
    db.session.add(doc)
    return doc


def _record_url(outcome: UploadOutcome, *, url: str, agent: Agent, company_id, user_id, metadata: dict):
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        _error(outcome, url, "INVALID_URL", f"Not an http(s) URL: {url}")
        return None
    existing = db.session.execute(
        select(Document).where(Document.agent_id == agent.id, Document.source_url == url)
        .order_by(Document.created_at)
    ).scalars().first()
    if existing is not None and existing.status != "failed":
        outcome.duplicates.append(existing)
        return None
    name = (parsed.netloc + parsed.path)[:500]
    doc = Document(id=uuid.uuid4(), company_id=company_id, agent_id=agent.id, user_id=user_id,
                   original_filename=url[:500], filename=name, title=None,
                   document_type=detect_type(parsed.path) or "html", source_url=url, status="pending",
                   progress=0, extra_metadata=metadata)
    db.session.add(doc)
    return doc


def upload_documents(*, company_id, user_id, agent_id, files: list[FileStorage], urls: list[str],
                     metadata: dict) -> tuple[dict, int]:
    agent = get_or_404(Agent, agent_id, what="Agent")
    files = [f for f in files if f is not None and (f.filename or "").strip()]
    urls = list(dict.fromkeys(u.strip() for u in urls if u and u.strip()))
    if not files and not urls:
        raise ValidationFailed("Provide at least one file (files) or URL (url/urls)",
                               code="NO_DOCUMENTS", details={"files": ["no files or urls were sent"]})
    outcome = UploadOutcome()
    for file in files:
        doc = _store_file(outcome, file=file, agent=agent, company_id=company_id, user_id=user_id,
                          metadata=metadata)
        if doc is not None:
            outcome.documents.append(doc)
    for url in urls:
        doc = _record_url(outcome, url=url, agent=agent, company_id=company_id, user_id=user_id, metadata=metadata)
        if doc is not None:
            outcome.documents.append(doc)
    db.session.flush()
    for doc in outcome.documents:
        record = enqueue(process_document, company_id=company_id, commit=False, document_id=str(doc.id))
        doc.task_id = record.id
        outcome.task_ids.append(str(record.id))
    db.session.commit()
    return _response(outcome)


def _response(outcome: UploadOutcome) -> tuple[dict, int]:
    docs = [document_out(d, 0) for d in outcome.documents]
    dups = [{**document_out(d), "duplicate": True} for d in outcome.duplicates]
    errors = [f"{name}: {message}" for name, _, message in outcome.errors]
    ok = len(docs) + len(dups)
    if ok == 0:
        codes = {code for _, code, _ in outcome.errors}
        details = {name: [message] for name, _, message in outcome.errors}
        if codes == {"FILE_TOO_LARGE"}:
            raise ApiError("File too large", code="FILE_TOO_LARGE", status=413, details=details)
        raise ValidationFailed("No document could be accepted", code="UPLOAD_FAILED", details=details)
    body = {
        "success": True,
        "message": (f"{len(docs)} document(s) queued for processing"
                    + (f", {len(dups)} already present" if dups else "")
                    + (f", {len(errors)} failed" if errors else "")),
        "documents": docs + dups,
        "document": (docs + dups)[0],
        "duplicates": dups,
        "documents_processed": ok,
        "documents_failed": len(errors),
        "total_submitted": ok + len(errors),
        "task_ids": outcome.task_ids,
        "errors": errors,
        "errors_count": len(errors),
        "error_summary": dict(Counter(code for _, code, _ in outcome.errors)),
        "results": ([{"name": d["original_filename"], "document_id": d["id"], "outcome": "queued"} for d in docs]
                    + [{"name": d["original_filename"], "document_id": d["id"], "outcome": "duplicate"} for d in dups]
                    + [{"name": n, "outcome": "failed", "error": m, "error_code": c} for n, c, m in outcome.errors]),
    }
    return body, (207 if errors else 200)
