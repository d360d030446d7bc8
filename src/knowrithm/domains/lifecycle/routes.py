"""Data-lifecycle routes: erasure (GDPR), exports, retention settings."""
from __future__ import annotations

from flask import Response

from knowrithm.infra.api import ApiBlueprint
from knowrithm.infra.auth import ADMIN, PUBLIC, READ, SUPER_ADMIN, current_principal, request_actor
from knowrithm.infra.responses import TaskAccepted
from knowrithm.infra.tasks import accepted_body

from . import export, retention, service
from .schemas import (CompanyErasureIn, CompanyExportIn, LeadErasureOut, LeadExportOut, RetentionFloorIn,
                      RetentionFloorOut, RetentionIn, RetentionOut, RetentionWithRunsOut, UserErasureOut, UserExportOut)

bp = ApiBlueprint("lifecycle", __name__, tag="data lifecycle")


@bp.post("/erasure/leads/<lead_id>", auth=ADMIN, response=LeadErasureOut,
         summary="Erase a lead for good (record, conversations, messages, traces); returns the certificate")
def erase_lead(lead_id: str):
    return {"success": True, **service.erase_lead(actor=current_principal(), lead_id=lead_id)}


@bp.post("/erasure/users/<user_id>", auth=ADMIN, response=UserErasureOut,
         summary="Erase a user for good (profile, keys, request logs, chats); their audit trail is anonymised")
def erase_user(user_id: str):
    return {"success": True, **service.erase_user(actor=current_principal(), user_id=user_id)}


@bp.post("/erasure/companies/<company_id>", auth=ADMIN, body=CompanyErasureIn, status=202, response=TaskAccepted,
         summary="Erase a company and everything it owns (queued); body: {\"confirm\": \"<company id>\"}")
def erase_company(company_id: str, body: CompanyErasureIn):
    record = service.queue_company_erasure(actor=current_principal(), company_id=company_id, confirm=body.confirm)
    return accepted_body(record, message="Company erasure queued")


@bp.post("/exports/company", auth=ADMIN, body=CompanyExportIn, status=202, response=TaskAccepted,
         summary="Export all of the company's data as one zip (queued; the result holds a signed download link)")
def export_company(body: CompanyExportIn):
    record = service.queue_company_export(actor=current_principal(), company_id=body.company_id)
    return accepted_body(record, message="Company export queued", estimated_time=30)


@bp.get("/exports/download/<token>", auth=PUBLIC, media_type="application/zip", errors=(410,),
        summary="Download an export through its signed, expiring link (410 once expired)")
def download_export(token: str):
    body, filename = export.open_download(token, actor=request_actor())
    return Response(body, mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


@bp.get("/exports/leads/<lead_id>", auth=ADMIN, audit="export.lead", response=LeadExportOut,
        summary="Subject-access export of one lead: record, consents, conversations and messages")
def export_lead(lead_id: str):
    return {"success": True, **service.lead_export(lead_id)}


@bp.get("/exports/users/<user_id>", auth=READ, audit="export.user", response=UserExportOut,
        summary="Subject-access export of one user: profile, API keys (no secrets), activity, conversations")
def export_user(user_id: str):
    return {"success": True, **service.user_export(actor=current_principal(), user_id=user_id)}


@bp.get("/company/<company_id>/retention", auth=ADMIN, response=RetentionWithRunsOut,
        summary="Retention policy (days per class), the defaults, the audit-log floor and the latest runs")
def get_retention(company_id: str):
    return {"success": True, **service.retention_overview(actor=current_principal(), company_id=company_id)}


@bp.put("/company/<company_id>/retention", auth=ADMIN, body=RetentionIn, response=RetentionOut,
        summary="Set retention days per class (null keeps forever); the audit log not below the floor")
def put_retention(company_id: str, body: RetentionIn):
    return {"success": True, **service.set_retention(actor=current_principal(), company_id=company_id,
                                                     changes=body.model_dump(exclude_unset=True))}


@bp.get("/super-admin/retention-floor", auth=SUPER_ADMIN, response=RetentionFloorOut,
        summary="Minimum days every company keeps its audit log")
def get_retention_floor():
    return {"success": True, "audit_log_floor_days": retention.audit_floor()}


@bp.put("/super-admin/retention-floor", auth=SUPER_ADMIN, body=RetentionFloorIn, response=RetentionFloorOut,
        summary="Set the minimum days every company keeps its audit log")
def put_retention_floor(body: RetentionFloorIn):
    days = retention.set_floor(days=body.audit_log_floor_days, actor=current_principal())
    return {"success": True, "audit_log_floor_days": days}
