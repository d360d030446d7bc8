"""Queued company writes (docs/architecture.md, "The write path"); each returns the body the SDK polls for."""
from __future__ import annotations

from celery import shared_task

from knowrithm.domains.audit import service as audit

from . import service
from .schemas import company_out


@shared_task(name="knowrithm.companies.create")
def create_company(*, data: dict, actor: dict | None = None, company_id: str | None = None) -> dict:
    company = service.create(data=data, actor=audit.actor_from_ref(actor))
    out = company_out(company)
    return {"success": True, "message": "Company created", "company": out, "data": out}


@shared_task(name="knowrithm.companies.update")
def update_company(*, company_id: str, changes: dict, actor: dict | None = None,
                   event: str = "company.updated") -> dict:
    company = service.update(company_id=company_id, changes=changes, actor=audit.actor_from_ref(actor),
                             event=event)
    out = company_out(company)
    return {"success": True, "message": "Company updated", "data": out, "company": out}


@shared_task(name="knowrithm.companies.delete")
def delete_company(*, company_id: str, actor: dict | None = None) -> dict:
    service.soft_delete(company_ids=[company_id], actor=audit.actor_from_ref(actor))
    return {"success": True, "message": "Company deleted", "company_id": company_id}


@shared_task(name="knowrithm.companies.restore")
def restore_company(*, company_id: str, actor: dict | None = None) -> dict:
    rows, _ = service.restore(company_ids=[company_id], actor=audit.actor_from_ref(actor))
    out = company_out(rows[0]) if rows else None
    return {"success": True, "message": "Company restored", "company": out, "data": out}


@shared_task(name="knowrithm.companies.bulk_delete")
def bulk_delete(*, company_ids: list[str], actor: dict | None = None, company_id: str | None = None) -> dict:
    done = service.soft_delete(company_ids=company_ids, actor=audit.actor_from_ref(actor))
    return {"success": True, "message": f"{len(done)} compan{'y' if len(done) == 1 else 'ies'} deleted",
            "deleted": len(done), "deleted_ids": done, "requested": len(company_ids)}


@shared_task(name="knowrithm.companies.bulk_restore")
def bulk_restore(*, company_ids: list[str], actor: dict | None = None, company_id: str | None = None) -> dict:
    _, restored = service.restore(company_ids=company_ids, actor=audit.actor_from_ref(actor))
    return {"success": True, "message": f"{len(restored)} compan{'y' if len(restored) == 1 else 'ies'} restored",
            "restored": len(restored), "restored_ids": restored, "requested": len(company_ids)}


@shared_task(name="knowrithm.companies.cascade_delete")
def cascade_delete(*, company_id: str, delete_related: bool | None = None, actor: dict | None = None) -> dict:
    result = service.cascade_delete(company_id=company_id, delete_related=delete_related,
                                    actor=audit.actor_from_ref(actor))
    return {"success": True, "message": "Company and related data permanently deleted", **result,
            **result["deleted_counts"]}
