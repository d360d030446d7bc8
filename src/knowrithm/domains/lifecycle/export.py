"""Exports: a company's whole data as one zip, and a subject-access export for one person.

The company zip holds `tables/<table>.json` for every table with a `company_id` (from the
catalog, so later tables are included), `files/<document id>/<name>` with each document's
original file, and `manifest.json` with row counts. Secrets never leave: password and key
hashes, `*_encrypted` columns (and such members inside JSON), and derived search data
(embeddings, tsvectors, BM25 postings) are left out. The zip is stored under the company's own
storage folder (so a company erasure takes it along) and fetched through a signed link that
expires after EXPORT_LINK_TTL_SECONDS.
"""
from __future__ import annotations

import json
import tempfile
import uuid
import zipfile
from datetime import datetime, timedelta, timezone
from typing import Callable

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select, text

from knowrithm.domains.analytics.models import ApiRequestLog
from knowrithm.domains.audit import service as audit
from knowrithm.domains.audit.models import AuditLog
from knowrithm.domains.auth import request_log
from knowrithm.domains.auth.models import ApiKey, User
from knowrithm.domains.conversations.models import Conversation, Message
from knowrithm.domains.leads.models import Lead
from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db, utcnow
from knowrithm.infra.errors import ApiError, NotFound
from knowrithm.integrations.storage import get_storage

from .catalog import quote, read

SECRET_COLUMNS = {"password_hash", "secret_hash"}
DERIVED_COLUMNS = {"embedding", "search_vector"}
# Internal search structures: derived from the chunks, rebuilt on import.
DERIVED_TABLES = {"chunk_terms", "agent_terms", "agent_search_stats"}
PAGE = 2000


class LinkExpired(ApiError):
    status = 410
    code = "LINK_EXPIRED"
    message = "This download link has expired; request a new export"


def _clean(value):
    """A JSON-safe copy without secret members."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if not k.endswith("_encrypted")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, (uuid.UUID, datetime)):
        return value.isoformat() if isinstance(value, datetime) else str(value)
    if isinstance(value, (bytes, memoryview)):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _kept(column: str) -> bool:
    return column not in SECRET_COLUMNS and column not in DERIVED_COLUMNS and not column.endswith("_encrypted")


def row_out(row) -> dict:
    out = {k: _clean(v) for k, v in row._mapping.items() if _kept(k)}
    if out.get("is_sensitive") and "config_value" in out:  # a configuration entry marked secret
        out["config_value"] = "****"
    return out


# --- the company zip --------------------------------------------------------------------------

def export_company(*, company_id, export_id: str, progress: Callable[[int], None] = lambda p: None) -> dict:
    key = uuid.UUID(str(company_id))
    settings = current_app.config["SETTINGS"]
    cat = read()
    tables = [t for t in cat.with_column("company_id") if t not in DERIVED_TABLES]
    storage = get_storage(settings)
    counts: dict[str, int] = {}
    with tempfile.TemporaryFile() as spool:
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            company = db.session.execute(text("SELECT * FROM companies WHERE id = :cid"), {"cid": key}).first()
            zf.writestr("tables/companies.json", json.dumps([row_out(company)] if company else [], indent=1))
            for n, table in enumerate(tables):
                counts[table] = _write_table(zf, cat, table, key)
                progress(int(80 * (n + 1) / (len(tables) + 1)))
            counts["files"] = _write_files(zf, storage, key)
            zf.writestr("manifest.json", json.dumps({
                "company_id": str(key), "exported_at": utcnow().isoformat(), "row_counts": counts,
                "left_out": "password and key hashes, encrypted secrets, embeddings and search indexes"}, indent=1))
        progress(90)
        size = spool.tell()
        spool.seek(0)
        stored = storage.save(export_key(key, export_id), spool)
    expires = utcnow() + timedelta(seconds=settings.EXPORT_LINK_TTL_SECONDS)
    return {"export_id": export_id, "size": size, "sha256": stored.sha256, "row_counts": counts,
            "download_url": download_url(key, export_id), "expires_at": expires.isoformat()}


def _write_table(zf: zipfile.ZipFile, cat, table: str, company_id) -> int:
    order = " ORDER BY created_at, id" if cat.has(table, "created_at") and cat.has(table, "id") else ""
    count = 0
    with zf.open(f"tables/{table}.json", "w", force_zip64=True) as out:
        out.write(b"[")
        result = db.session.execute(text(f"SELECT * FROM {quote(table)} WHERE company_id = :cid{order}")
                                    .execution_options(stream_results=True, yield_per=PAGE), {"cid": company_id})
        for row in result:
            out.write((b",\n" if count else b"\n") + json.dumps(row_out(row)).encode())
            count += 1
        out.write(b"\n]\n")
    return count


def _write_files(zf: zipfile.ZipFile, storage, company_id) -> int:
    rows = db.session.execute(text("SELECT id, storage_path, original_filename FROM documents "
                                   "WHERE company_id = :cid AND storage_path IS NOT NULL"), {"cid": company_id})
    count = 0
    for doc_id, path, name in rows:
        try:
            data = storage.read(path)
        except Exception:  # noqa: BLE001 - a missing file is listed, not fatal
            zf.writestr(f"files/{doc_id}/MISSING.txt", f"the stored file {path} could not be read\n")
            continue
        safe = (name or path.rsplit("/", 1)[-1]).replace("/", "_").replace("\\", "_")
        zf.writestr(f"files/{doc_id}/{safe}", data)
        count += 1
    return count


def export_key(company_id, export_id) -> str:
    """Inside the company's own storage folder: a company erasure removes its exports too."""
    return f"{company_id}/exports/{export_id}.zip"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SETTINGS"].SECRET_KEY, salt="knowrithm-company-export")


def download_url(company_id, export_id: str) -> str:
    token = _serializer().dumps({"c": str(company_id), "e": export_id})
    return f"/api/v1/exports/download/{token}"


def open_download(token: str, *, actor: Principal) -> tuple[bytes, str]:
    """The zip a signed link names; 410 once expired, 404 when forged or removed."""
    try:
        data = _serializer().loads(token, max_age=current_app.config["SETTINGS"].EXPORT_LINK_TTL_SECONDS)
        company_id, export_id = uuid.UUID(data["c"]), uuid.UUID(data["e"])
    except SignatureExpired:
        raise LinkExpired()
    except (BadSignature, KeyError, TypeError, ValueError):
        raise NotFound("Export not found")
    try:
        body = get_storage(current_app.config["SETTINGS"]).read(export_key(company_id, export_id))
    except Exception:  # noqa: BLE001
        raise NotFound("Export not found")
    # The link is a bearer credential: whoever holds it gets every row of the company, so each
    # download is on the company's audit trail with where it came from.
    audit.record("export.downloaded", actor=actor, company_id=company_id, entity_type="export",
                 entity_id=export_id, category="data_access", risk_level="high",
                 description="Company export downloaded through its signed link", details={"bytes": len(body)})
    db.session.commit()
    return body, f"knowrithm-export-{company_id}-{datetime.now(timezone.utc):%Y%m%d}.zip"


# --- subject access ---------------------------------------------------------------------------

def _rows(stmt) -> list[dict]:
    return [row_out(r) for r in db.session.execute(stmt)]


def _conversations(entity_type: str, entity_id) -> list[dict]:
    convs = db.session.execute(select(Conversation).where(Conversation.entity_type == entity_type,
                                                          Conversation.entity_id == entity_id)
                               .execution_options(all_companies=True, include_deleted=True)
                               .order_by(Conversation.created_at)).scalars().all()
    out = []
    for conv in convs:
        messages = _rows(select(*Message.__table__.c).where(Message.conversation_id == conv.id)
                         .order_by(Message.created_at))
        item = {k: _clean(v) for k, v in db.session.execute(
            select(*Conversation.__table__.c).where(Conversation.id == conv.id)).first()._mapping.items()}
        out.append({**item, "messages": messages})
    return out


def lead_export(lead: Lead) -> dict:
    record = db.session.execute(select(*Lead.__table__.c).where(Lead.id == lead.id)).first()
    return {"subject": "lead", "exported_at": utcnow().isoformat(), "lead": row_out(record),
            "consents": {"data_processing": lead.consent_data_processing, "marketing": lead.consent_marketing},
            "conversations": _conversations("lead", lead.id)}


def user_export(user: User) -> dict:
    request_log.flush()  # the person's latest requests are still buffered in Redis
    profile = db.session.execute(select(*User.__table__.c).where(User.id == user.id)).first()
    keys = _rows(select(*ApiKey.__table__.c).where(ApiKey.user_id == user.id))
    activity = _rows(select(*AuditLog.__table__.c).where(AuditLog.user_id == user.id).order_by(AuditLog.created_at))
    requests_made = _rows(select(*ApiRequestLog.__table__.c).where(ApiRequestLog.user_id == user.id)
                          .order_by(ApiRequestLog.created_at))
    return {"subject": "user", "exported_at": utcnow().isoformat(), "user": row_out(profile), "api_keys": keys,
            "activity": activity, "api_requests": requests_made, "conversations": _conversations("user", user.id)}
