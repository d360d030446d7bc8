"""Queued and periodic data-lifecycle work."""
from __future__ import annotations

from celery import shared_task
from flask import current_app

from knowrithm.domains.audit import service as audit

from . import erasure, export, purge, retention
from .backup import create_backup, prune_backups


@shared_task(name="knowrithm.lifecycle.erase_company")
def erase_company(*, target_company_id: str, actor: dict | None = None, company_id: str | None = None) -> dict:
    # The task record is not the company's (it would be erased with it): `company_id` stays unset,
    # and its result names the certificate, not the company.
    done = erasure.erase_company(company_id=target_company_id, actor=audit.actor_from_ref(actor))
    certificate = done.get("certificate", {})
    return {"success": True, "erased": done["erased"], "certificate_id": certificate.get("certificate_id"),
            "total_rows": certificate.get("total_rows", 0), "files_removed": done.get("files_removed", 0),
            "redis_entries_removed": done.get("redis_entries_removed", 0)}


@shared_task(name="knowrithm.lifecycle.export_company", bind=True)
def export_company(self, *, company_id: str) -> dict:
    return {"success": True, **export.export_company(company_id=company_id, export_id=self.request.id,
                                                     progress=self.report_progress)}


@shared_task(name="knowrithm.maintenance.purge_soft_deleted")
def purge_soft_deleted() -> dict:
    return {"removed": purge.purge_soft_deleted()}


@shared_task(name="knowrithm.maintenance.enforce_retention")
def enforce_retention() -> dict:
    """Nightly: every company's retention policy, then expired company exports."""
    summary = retention.enforce_all()
    return {**summary, "exports_expired": retention.expire_exports()}


@shared_task(name="knowrithm.maintenance.nightly_backup")
def nightly_backup() -> dict:
    """Runs when BACKUP_DIR is set; keeps BACKUP_RETENTION_DAYS of backups."""
    settings = current_app.config["SETTINGS"]
    if not settings.BACKUP_DIR:
        return {"skipped": "BACKUP_DIR is not set"}
    manifest = create_backup(settings, settings.BACKUP_DIR)
    removed = prune_backups(settings, settings.BACKUP_DIR, settings.BACKUP_RETENTION_DAYS)
    return {"location": manifest["location"], "files": manifest["files"], "pruned": removed}
