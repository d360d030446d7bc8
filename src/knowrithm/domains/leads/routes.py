"""Lead routes: public registration plus synchronous `/sdk` and queued CLI CRUD."""
from __future__ import annotations

from flask import request

from knowrithm.infra import ratelimit
from knowrithm.infra.api import ApiBlueprint
from knowrithm.infra.auth import (PUBLIC, READ, WRITE, acting_company_id, attribute_request, current_principal,
                                  request_actor)
from knowrithm.infra.db import sid
from knowrithm.infra.errors import Unauthorized
from knowrithm.infra.pagination import page_meta
from knowrithm.infra.responses import TaskAccepted
from knowrithm.infra.tasks import accepted_body

from . import service
from .schemas import (LeadCreateIn, LeadDeletedOut, LeadGetOut, LeadListOut, LeadListQuery, LeadRefreshIn,
                      LeadRegisterIn, LeadSavedOut, LeadSessionOut, LeadUpdateIn, lead_out)

bp = ApiBlueprint("leads", __name__, tag="leads")


def _initiated_by() -> str | None:
    return sid(current_principal().user_id)


def _payload(body) -> dict:
    return body.model_dump(exclude_unset=True, mode="json")


@bp.post("/lead/register", auth=PUBLIC, widget=True, body=LeadRegisterIn, response=LeadSessionOut,
         summary="Register a website visitor as a lead and open a new visitor session (200 for a known email)")
def register_lead(body: LeadRegisterIn):
    lead, pair = service.register(data=body.model_dump(mode="json"), client_ip=ratelimit.client_ip(),
                                  origin=request.headers.get("Origin"), actor=request_actor())
    attribute_request(lead.company_id)
    return {"success": True, "message": "Lead registered", "lead": lead_out(lead), **pair, "tokens": pair}


@bp.post("/lead/refresh", auth=PUBLIC, widget=True, body=LeadRefreshIn, response=LeadSessionOut,
         summary="Resume a visitor session: exchange its refresh token (body or Bearer) for a new pair")
@ratelimit.rate_limit("30/minute", scope="lead_refresh")
def refresh_lead(body: LeadRefreshIn):
    header = request.headers.get("Authorization", "")
    token = body.refresh_token or (header[7:].strip() if header[:7].lower() == "bearer " else None)
    if not token:
        raise Unauthorized("A refresh token is required", code="TOKEN_MISSING")
    lead, pair = service.refresh(token, origin=request.headers.get("Origin"))
    attribute_request(lead.company_id)
    return {"success": True, "message": "Visitor session refreshed", "lead": lead_out(lead), **pair,
            "tokens": pair}


@bp.post("/sdk/lead", auth=WRITE, body=LeadCreateIn, status=201, response=LeadSavedOut, summary="Create a lead")
def create_lead_sdk(body: LeadCreateIn):
    lead = service.create(company_id=acting_company_id(body.company_id), data=_payload(body),
                          actor=current_principal())
    return {"success": True, "message": "Lead created", "lead": lead_out(lead), "initiated_by": _initiated_by()}


@bp.post("/lead", auth=WRITE, body=LeadCreateIn, status=202, response=TaskAccepted, summary="Create a lead (queued)")
def create_lead(body: LeadCreateIn):
    record = service.queue_create(company_id=acting_company_id(body.company_id), data=_payload(body),
                                  actor=current_principal())
    return accepted_body(record, message="Lead creation queued")


@bp.get("/lead/company", auth=READ, query=LeadListQuery, response=LeadListOut, summary="List the company's leads")
def list_company_leads(query: LeadListQuery):
    acting_company_id(query.company_id)
    leads, total = service.list_leads(page=query.page, per_page=query.per_page, status=query.status,
                                      search=query.search, agent_id=query.agent_id,
                                      created_before=query.created_before, created_after=query.created_after)
    items = [lead_out(lead) for lead in leads]
    page = page_meta(query.page, query.per_page, total)
    return {"success": True, "data": {"leads": items, "pagination": page}, "leads": items, "pagination": page}


@bp.get("/lead/<lead_id>", auth=READ, response=LeadGetOut, summary="Get one lead")
def get_lead(lead_id: str):
    return {"success": True, "lead": lead_out(service.get(lead_id))}


@bp.put("/sdk/lead/<lead_id>", auth=WRITE, body=LeadUpdateIn, response=LeadSavedOut, summary="Update a lead")
def update_lead_sdk(lead_id: str, body: LeadUpdateIn):
    lead = service.update(lead_id=lead_id, data=_payload(body), actor=current_principal())
    return {"success": True, "message": "Lead updated", "lead": lead_out(lead), "initiated_by": _initiated_by()}


@bp.put("/lead/<lead_id>", auth=WRITE, body=LeadUpdateIn, status=202, response=TaskAccepted,
        summary="Update a lead (queued)")
def update_lead(lead_id: str, body: LeadUpdateIn):
    record = service.queue_update(lead_id=lead_id, data=_payload(body), actor=current_principal())
    return accepted_body(record, message="Lead update queued")


@bp.delete("/sdk/lead/<lead_id>", auth=WRITE, response=LeadDeletedOut, summary="Delete a lead")
def delete_lead_sdk(lead_id: str):
    lead = service.delete(lead_id=lead_id, actor=current_principal())
    return {"success": True, "message": "Lead deleted", "lead_id": str(lead.id), "initiated_by": _initiated_by()}


@bp.delete("/lead/<lead_id>", auth=WRITE, status=202, response=TaskAccepted, summary="Delete a lead (queued)")
def delete_lead(lead_id: str):
    record = service.queue_delete(lead_id=lead_id, actor=current_principal())
    return accepted_body(record, message="Lead deletion queued")
