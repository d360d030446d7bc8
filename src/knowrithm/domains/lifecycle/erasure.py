"""Erasure of one lead, one user or a whole company, for good.

Rows go from every table that names the subject (found in the catalog, see `catalog.py`),
then, after the commit, its stored files and Redis entries. The same transaction adds an
erasure certificate to the audit log: what was erased (ids and row counts per table, never the
personal data), when, and by whom. Each function is idempotent: a subject already gone is
reported as such, so a re-delivered task does nothing.
"""
from __future__ import annotations

import logging
import uuid

from flask import current_app
from sqlalchemy import select, text

from knowrithm.domains.analytics import support
from knowrithm.domains.audit import service as audit
from knowrithm.domains.auth import key_cache, request_log
from knowrithm.domains.auth.models import ApiKey, User
from knowrithm.domains.companies import logos
from knowrithm.domains.companies.models import Company
from knowrithm.domains.conversations import stream_claims
from knowrithm.domains.conversations.models import Conversation
from knowrithm.domains.documents.models import Document
from knowrithm.domains.leads.models import Lead
from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db
from knowrithm.integrations.storage import get_storage

from . import redis_traces
from .catalog import Catalog, quote, read

log = logging.getLogger(__name__)
CERTIFICATE_EVENTS = ("erasure.company", "erasure.lead", "erasure.user")


def _strs(values) -> list[str]:
    return [str(v) for v in values]


def _delete(cat: Catalog, table: str, column: str, ids, counts: dict, extra: str = "") -> None:
    ids = _strs(ids)
    if not ids or not cat.has(table, column):
        return
    n = db.session.execute(text(f"DELETE FROM {quote(table)} WHERE {cat.match(table, column)}{extra}"),
                           {"ids": ids}).rowcount
    if n:
        counts[table] = counts.get(table, 0) + n


def _delete_mentions(table: str, column: str, company_id, markers: list[str], counts: dict) -> None:
    """Rows of the company whose JSON `column` mentions a marker (task results, audit details)."""
    if not markers:
        return
    n = db.session.execute(
        text(f"DELETE FROM {quote(table)} WHERE company_id = :cid AND CAST({quote(column)} AS text) LIKE ANY(:pats)"),
        {"cid": company_id, "pats": [f"%{m}%" for m in markers]}).rowcount
    if n:
        counts[table] = counts.get(table, 0) + n


def _ids(stmt) -> list[uuid.UUID]:
    return list(db.session.execute(stmt.execution_options(all_companies=True, include_deleted=True)).scalars())


def _certificate(kind: str, subject_id, company_id, actor: Principal | None, counts: dict, **ids) -> dict:
    certificate = {"subject": kind, "subject_id": str(subject_id), "rows": dict(sorted(counts.items())),
                   "total_rows": sum(counts.values()), **ids}
    row = audit.record(f"erasure.{kind}", actor=actor, company_id=company_id, entity_type=kind, entity_id=subject_id,
                       category="erasure", risk_level="critical", description=f"{kind.capitalize()} erased",
                       details=certificate)
    db.session.flush()
    return {"certificate_id": str(row.id), "erased_at": row.created_at.isoformat(), **certificate}


def remove_files(keys: list[str], prefixes: list[str] = ()) -> int:
    storage = get_storage(current_app.config["SETTINGS"])
    removed = 0
    for key in keys:
        try:
            if storage.exists(key):
                storage.delete(key)
                removed += 1
        except Exception:  # noqa: BLE001 - the rows are gone; a leftover file is reported, not fatal
            log.warning("could not delete stored file %s", key)
    for prefix in prefixes:
        try:
            removed += storage.delete_prefix(prefix)
        except Exception:  # noqa: BLE001
            log.warning("could not delete stored files under %s", prefix)
    return removed


# --- a company ----------------------------------------------------------------------------

# Whose ids name Redis keys (event streams per conversation, counters per key, slots per agent).
_KEYED_IN_REDIS = ("api_keys", "agents", "conversations", "leads", "documents")

def erase_company(*, company_id, actor: Principal | None) -> dict:
    key = uuid.UUID(str(company_id))
    company = db.session.execute(select(Company).where(Company.id == key)
                                 .execution_options(include_deleted=True)).scalar_one_or_none()
    if company is None:
        return {"erased": False, "company_id": str(key), "message": "nothing to erase"}
    request_log.flush()  # buffered request-log rows reach their table first, and go with it
    cat = read()
    users = _ids(select(User.id).where(User.company_id == key))
    emails = list(db.session.execute(select(User.email).where(User.company_id == key)
                                     .execution_options(include_deleted=True)).scalars())
    emails += list(db.session.execute(select(Lead.email).where(Lead.company_id == key)
                                      .execution_options(all_companies=True, include_deleted=True)).scalars())
    files = [p for p in db.session.execute(select(Document.storage_path).where(
        Document.company_id == key, Document.storage_path.is_not(None))
        .execution_options(all_companies=True, include_deleted=True)).scalars()]
    logo = company.logo
    markers = {str(key), *_strs(users), *emails}
    for table in _KEYED_IN_REDIS:
        markers.update(_strs(db.session.execute(
            text(f"SELECT id FROM {quote(table)} WHERE company_id = :cid"), {"cid": key}).scalars()))

    questions = list(db.session.execute(text(
        f"SELECT DISTINCT {_DIGEST} FROM messages WHERE company_id = :cid AND role = 'user'"), {"cid": key}).scalars())
    counts: dict[str, int] = {}
    company_tables = cat.with_column("company_id")
    if company_tables:
        union = " UNION ALL ".join(
            f"SELECT '{t}', count(*) FROM {quote(t)} WHERE company_id = :cid" for t in company_tables)
        counts = {t: n for t, n in db.session.execute(text(union), {"cid": key}) if n}
    db.session.execute(text("DELETE FROM companies WHERE id = :cid"), {"cid": key})  # foreign keys cascade
    counts["companies"] = 1
    for table in company_tables:  # tables without a foreign key to companies (logs, postings, ...)
        db.session.execute(text(f"DELETE FROM {quote(table)} WHERE company_id = :cid"), {"cid": key})
    # Audit rows of the company's people recorded outside its scope (e.g. a failed login).
    _delete(cat, "audit_logs", "user_id", users, counts)
    certificate = _certificate("company", key, key, actor, counts, user_count=len(users))
    db.session.commit()
    key_cache.invalidate()  # the company's API keys went with bulk DELETEs (no ORM events)
    stream_claims.invalidate()  # and its conversations and leads
    files_removed = remove_files(files, [f"{key}/"])
    logos.delete_logo(logo)
    # the company's cached clusters name it and go with the markers; its questions' vectors here
    redis_removed = redis_traces.scrub(markers) + support.forget_questions(key, questions)
    return {"erased": True, "company_id": str(key), "certificate": certificate, "files_removed": files_removed,
            "redis_entries_removed": redis_removed}


# --- one lead -------------------------------------------------------------------------------

def erase_lead(*, lead_id, actor: Principal | None) -> dict:
    """Rows of the lead, their conversations and messages, and anything naming them; a later
    registration with the same email starts from nothing (a new lead)."""
    key = uuid.UUID(str(lead_id))
    lead = db.session.execute(select(Lead).where(Lead.id == key)
                              .execution_options(all_companies=True, include_deleted=True)).scalar_one_or_none()
    if lead is None:
        return {"erased": False, "lead_id": str(key), "message": "nothing to erase"}
    company_id, email = lead.company_id, lead.email
    request_log.flush()  # the lead's buffered request-log rows reach their table, and go below
    cat = read()
    conversations = _ids(select(Conversation.id).where(Conversation.entity_type == "lead",
                                                       Conversation.entity_id == key))
    counts: dict[str, int] = {}
    questions = _question_digests(conversations)
    _erase_conversations(cat, conversations, counts)
    for table in cat.with_column("lead_id"):
        _delete(cat, table, "lead_id", [key], counts)
    _delete(cat, "leads", "id", [key], counts)
    _delete(cat, "audit_logs", "entity_id", [key, *conversations], counts)
    markers = [str(key), email, *_strs(conversations)]
    _delete_mentions("audit_logs", "details", company_id, markers, counts)
    _delete_mentions("task_records", "result", company_id, markers, counts)
    certificate = _certificate("lead", key, company_id, actor, counts, conversation_ids=_strs(conversations))
    db.session.commit()
    stream_claims.invalidate()  # the lead and its conversations went with bulk DELETEs
    redis_removed = redis_traces.scrub(set(markers)) + support.forget_questions(company_id, questions)
    return {"erased": True, "lead_id": str(key), "certificate": certificate, "redis_entries_removed": redis_removed}


# support.question_digest, computed in the database
_DIGEST = "encode(sha256(convert_to(content, 'UTF8')), 'hex')"


def _question_digests(conversations: list) -> list[str]:
    """Cache names of the questions asked in these conversations (analytics caches their vectors)."""
    if not conversations:
        return []
    return list(db.session.execute(text(
        f"SELECT DISTINCT {_DIGEST} FROM messages WHERE conversation_id = ANY(:ids) AND role = 'user'"),
        {"ids": conversations}).scalars())


def _erase_conversations(cat: Catalog, conversations: list, counts: dict) -> None:
    for table in cat.with_column("conversation_id"):  # messages, and whatever else hangs off a chat
        _delete(cat, table, "conversation_id", conversations, counts)
    _delete(cat, "conversations", "id", conversations, counts)


# --- one user -------------------------------------------------------------------------------

# Rows that exist only because of the user; elsewhere a nullable `user_id` (a document's uploader,
# a connection's creator) is cleared and the company's row stays.
_USER_OWNED = ("api_keys", "api_request_logs", "session_rollups", "client_ip_rollups")


def erase_user(*, user_id, actor: Principal | None) -> dict:
    key = uuid.UUID(str(user_id))
    user = db.session.execute(select(User).where(User.id == key)
                              .execution_options(include_deleted=True)).scalar_one_or_none()
    if user is None:
        return {"erased": False, "user_id": str(key), "message": "nothing to erase"}
    request_log.flush()
    company_id, email = user.company_id, user.email
    cat = read()
    keys = _ids(select(ApiKey.id).where(ApiKey.user_id == key))
    conversations = _ids(select(Conversation.id).where(Conversation.entity_type == "user",
                                                       Conversation.entity_id == key))
    counts: dict[str, int] = {}
    questions = _question_digests(conversations)
    _erase_conversations(cat, conversations, counts)
    _delete(cat, "api_request_logs", "api_key_id", keys, counts)
    for table in cat.with_column("user_id"):
        if table in ("users", "audit_logs"):
            continue
        if table in _USER_OWNED or not cat.nullable(table, "user_id"):
            _delete(cat, table, "user_id", [key], counts)
        else:
            n = db.session.execute(text(f"UPDATE {quote(table)} SET user_id = NULL WHERE user_id = :uid"),
                                   {"uid": key}).rowcount
            if n:
                counts[f"{table} (user cleared)"] = n
    # The audit trail of what the person did stays the company's record, without who they were.
    n = db.session.execute(text("UPDATE audit_logs SET user_id = NULL, ip_address = NULL, user_agent = NULL "
                                "WHERE user_id = :uid OR impersonator_id = :uid"), {"uid": key}).rowcount
    if n:
        counts["audit_logs (anonymised)"] = n
    markers = [str(key), email, *_strs(keys)]
    if company_id is not None:
        _delete_mentions("audit_logs", "details", company_id, [email], counts)
        _delete_mentions("task_records", "result", company_id, markers, counts)
    _delete(cat, "users", "id", [key], counts)
    certificate = _certificate("user", key, company_id, actor, counts, api_key_ids=_strs(keys),
                               conversation_ids=_strs(conversations))
    db.session.commit()
    key_cache.invalidate()
    stream_claims.invalidate()
    redis_removed = redis_traces.scrub({*markers, *_strs(conversations)})
    if company_id is not None:
        redis_removed += support.forget_questions(company_id, questions)
    return {"erased": True, "user_id": str(key), "certificate": certificate, "redis_entries_removed": redis_removed}
