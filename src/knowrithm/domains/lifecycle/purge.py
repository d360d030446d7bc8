"""Soft-deleted records are purged for good once SOFT_DELETE_GRACE_DAYS have passed.

Companies, leads and users go through their erasure (files, Redis entries and an erasure
certificate with them); documents take their stored files along; every other table with a
`deleted_at` column (from the catalog) is purged in bounded batches.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import text

from knowrithm.domains.audit import service as audit
from knowrithm.infra.db import db, utcnow

from . import erasure
from .catalog import delete_batched, quote, read

_SUBJECTS = {"companies": erasure.erase_company, "leads": erasure.erase_lead, "users": erasure.erase_user}
_ARG = {"companies": "company_id", "leads": "lead_id", "users": "user_id"}


def purge_soft_deleted(*, now: datetime | None = None) -> dict[str, int]:
    settings = current_app.config["SETTINGS"]
    cutoff = (now or utcnow()) - timedelta(days=settings.SOFT_DELETE_GRACE_DAYS)
    batch, max_batches = settings.RETENTION_BATCH_SIZE, settings.RETENTION_MAX_BATCHES
    removed: dict[str, int] = {}
    for table, erase in _SUBJECTS.items():
        ids = list(db.session.execute(text(f"SELECT id FROM {quote(table)} WHERE deleted_at < :cutoff "
                                           "ORDER BY deleted_at LIMIT :n"), {"cutoff": cutoff, "n": batch}).scalars())
        for ident in ids:
            if erase(**{_ARG[table]: ident}, actor=None).get("erased"):
                removed[table] = removed.get(table, 0) + 1
    removed_docs = _purge_documents(cutoff, batch, max_batches)
    if removed_docs:
        removed["documents"] = removed_docs
    for table in read().with_column("deleted_at"):
        if table in _SUBJECTS or table == "documents":
            continue
        n, _ = delete_batched(table, "deleted_at < :cutoff", {"cutoff": cutoff}, batch=batch, max_batches=max_batches)
        if n:
            removed[table] = n
    if removed:
        audit.record("lifecycle.purged", actor=None, category="lifecycle", entity_type="platform", risk_level="medium",
                     description="Soft-deleted records purged after the grace period",
                     details={"grace_days": settings.SOFT_DELETE_GRACE_DAYS, "removed": removed})
        db.session.commit()
    return removed


def _purge_documents(cutoff: datetime, batch: int, max_batches: int) -> int:
    total = 0
    for _ in range(max_batches):
        rows = db.session.execute(text("DELETE FROM documents WHERE id = ANY(ARRAY(SELECT id FROM documents "
                                       "WHERE deleted_at < :cutoff LIMIT :n)) RETURNING storage_path"),
                                  {"cutoff": cutoff, "n": batch}).scalars().all()
        db.session.commit()
        erasure.remove_files([p for p in rows if p])
        total += len(rows)
        if len(rows) < batch:
            break
    return total
