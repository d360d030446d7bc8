"""Asynchronous flavours of lead CRUD (the CLI's `/lead` routes; docs/api-compatibility.md)."""
from __future__ import annotations

from celery import shared_task

from knowrithm.domains.audit import service as audit

from . import service
from .schemas import lead_out


@shared_task(name="knowrithm.leads.create")
def create_lead(*, company_id: str, data: dict, initiated_by: str | None = None, actor: dict | None = None) -> dict:
    lead = service.create(company_id=company_id, data=data, actor=audit.actor_from_ref(actor))
    return {"success": True, "message": "Lead created", "lead": lead_out(lead), "initiated_by": initiated_by}


@shared_task(name="knowrithm.leads.update")
def update_lead(*, company_id: str, lead_id: str, data: dict, initiated_by: str | None = None,
                actor: dict | None = None) -> dict:
    lead = service.update(lead_id=lead_id, data=data, actor=audit.actor_from_ref(actor))
    return {"success": True, "message": "Lead updated", "lead": lead_out(lead), "initiated_by": initiated_by}


@shared_task(name="knowrithm.leads.delete")
def delete_lead(*, company_id: str, lead_id: str, initiated_by: str | None = None, actor: dict | None = None) -> dict:
    service.delete(lead_id=lead_id, actor=audit.actor_from_ref(actor))
    return {"success": True, "message": "Lead deleted", "lead_id": lead_id, "initiated_by": initiated_by}
