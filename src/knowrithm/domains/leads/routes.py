"""Lead routes (CONTRACT §2.16): public registration plus synchronous `/sdk` and queued CLI CRUD."""
from __future__ import annotations

from knowrithm.infra import ratelimit
from knowrithm.infra.api import ApiBlueprint
from knowrithm.infra.auth import PUBLIC, READ, WRITE, acting_company_id, current_principal
from knowrithm.infra.db import sid
from knowrithm.infra.tasks import accepted_body, enqueue

from . import service, tasks
from .schemas import LeadCreateIn, LeadListQuery, LeadRegisterIn, LeadUpdateIn, lead_out

bp = ApiBlueprint("leads", __name__, tag="leads")


def _initiated_by() -> str | None:
    return sid(current_principal().user_id)


def _payload(body) -> dict:
    return body.model_dump(exclude_unset=True, mode="json")


@bp.post("/lead/register", auth=PUBLIC, body=LeadRegisterIn,
         summary="Register a website visitor as a lead and issue a lead access token (idempotent per email)")
def register_lead(body: LeadRegisterIn):
    lead, pair = service.register(data=body.model_dump(mode="json"), client_ip=ratelimit.client_ip())
    return {"success": True, "message": "Lead registered", "lead": lead_out(lead), **pair, "tokens": pair}


@bp.post("/sdk/lead", auth=WRITE, body=LeadCreateIn, status=201, summary="Create a lead")
def create_lead_sdk(body: LeadCreateIn):
    company_id = acting_company_id(body.company_id)
    lead = service.create(company_id=company_id, data=_payload(body))
    return {"success": True, "message": "Lead created", "lead": lead_out(lead), "initiated_by": _initiated_by()}


@bp.post("/lead", auth=WRITE, body=LeadCreateIn, status=202, summary="Create a lead (queued)")
def create_lead(body: LeadCreateIn):
    company_id = acting_company_id(body.company_id)
    data = _payload(body)
    service.validate_create(company_id=company_id, data=data)
    record = enqueue(tasks.create_lead, company_id=company_id, data=data, initiated_by=_initiated_by())
    return accepted_body(record, message="Lead creation queued")


@bp.get("/lead/company", auth=READ, query=LeadListQuery, summary="List the company's leads")
def list_company_leads(query: LeadListQuery):
    acting_company_id(query.company_id)
    leads, total = service.list_leads(page=query.page, per_page=query.per_page, status=query.status,
                                      search=query.search, agent_id=query.agent_id,
                                      created_before=query.created_before, created_after=query.created_after)
    items = [lead_out(lead) for lead in leads]
    page = service.pagination(query.page, query.per_page, total)
    return {"success": True, "data": {"leads": items, "pagination": page}, "leads": items, "pagination": page}


@bp.get("/lead/<lead_id>", auth=READ, summary="Get one lead")
def get_lead(lead_id: str):
    return {"success": True, "lead": lead_out(service.get(lead_id))}


@bp.put("/sdk/lead/<lead_id>", auth=WRITE, body=LeadUpdateIn, summary="Update a lead")
def update_lead_sdk(lead_id: str, body: LeadUpdateIn):
    lead = service.update(lead_id=lead_id, data=_payload(body))
    return {"success": True, "message": "Lead updated", "lead": lead_out(lead), "initiated_by": _initiated_by()}


@bp.put("/lead/<lead_id>", auth=WRITE, body=LeadUpdateIn, status=202, summary="Update a lead (queued)")
def update_lead(lead_id: str, body: LeadUpdateIn):
    lead = service.get(lead_id)
    service.validate_update(lead, _payload(body))
    record = enqueue(tasks.update_lead, company_id=lead.company_id, lead_id=str(lead.id), data=_payload(body),
                     initiated_by=_initiated_by())
    return accepted_body(record, message="Lead update queued")


@bp.delete("/sdk/lead/<lead_id>", auth=WRITE, summary="Delete a lead")
def delete_lead_sdk(lead_id: str):
    lead = service.delete(lead_id=lead_id)
    return {"success": True, "message": "Lead deleted", "lead_id": str(lead.id), "initiated_by": _initiated_by()}


@bp.delete("/lead/<lead_id>", auth=WRITE, status=202, summary="Delete a lead (queued)")
def delete_lead(lead_id: str):
    lead = service.get(lead_id)
    record = enqueue(tasks.delete_lead, company_id=lead.company_id, lead_id=str(lead.id),
                     initiated_by=_initiated_by())
    return accepted_body(record, message="Lead deletion queued")
