"""Company routes. Reads answer at once; writes are validated by the service, then
queued (202 + task) and audited by the task in the transaction that makes the change.

Static paths (`/company/statistics`, `/company/deleted`, `/company/bulk-*`) win over
`/company/<company_id>` because Werkzeug ranks static segments above converters.
"""
from __future__ import annotations

from flask import request

from knowrithm.infra.api import ApiBlueprint
from knowrithm.infra.auth import (ADMIN, ADMIN_ROLES, PUBLIC, READ, SUPER_ADMIN, Access, acting_company_id,
                                  current_principal, request_actor)
from knowrithm.infra.ratelimit import rate_limit
from knowrithm.infra.responses import TaskAccepted
from knowrithm.infra.tasks import accepted_body

from . import service
from .schemas import (UPDATABLE, CascadeIn, CompanyCreateIn, CompanyFlatOut, CompanyIdsIn, CompanyListOut,
                      CompanyListQuery, CompanyQuery, CompanyStatisticsOut, CompanyUpdateIn, DeletedCompaniesOut,
                      RelatedDataOut, StatsQuery, company_out, listing_pagination, statistics_out)

bp = ApiBlueprint("companies", __name__, tag="companies")

# Deleting or restoring a whole company: API keys need `write`; a person
# signed in with a JWT must also be an admin of it.
COMPANY_WRITE = Access("company_write", key_scope="write", roles=frozenset(ADMIN_ROLES))


def _changes(body) -> dict:
    return {k: v for k, v in body.model_dump(include=set(UPDATABLE)).items() if v is not None}


@bp.post("/company", auth=PUBLIC, body=CompanyCreateIn, status=202, multipart=True, response=TaskAccepted,
         summary="Create a company (JSON, or multipart with a `logo` file)")
@rate_limit("20/minute", scope="company_create")
def create_company(body: CompanyCreateIn):
    record = service.queue_create(data=_changes(body), logo=request.files.get("logo"), actor=request_actor())
    return accepted_body(record, message="Company creation queued")


@bp.get("/company", auth=READ, query=CompanyQuery, response=CompanyFlatOut,
        summary="The caller's company (flat object)")
def get_company(query: CompanyQuery):
    company = service.visible(current_principal(), acting_company_id(query.company_id))
    out = company_out(company)
    return {**out, "company": out}


@bp.get("/super-admin/company", auth=SUPER_ADMIN, query=CompanyListQuery, response=CompanyListOut,
        summary="Every company (super admin)")
def list_companies(query: CompanyListQuery):
    rows, total = service.list_companies(page=query.page, per_page=query.per_page, status=query.status,
                                         search=query.search)
    items = [company_out(c) for c in rows]
    return {"success": True, "companies": items, "data": items,
            "pagination": listing_pagination(query.page, query.per_page, total)}


@bp.get("/company/statistics", auth=READ, query=StatsQuery, response=CompanyStatisticsOut,
        summary="Lead and conversation figures of the company")
def get_company_statistics(query: StatsQuery):
    return statistics_out(*service.company_statistics(actor=current_principal(), days=query.days,
                                                        company_id=acting_company_id(query.company_id)))


@bp.get("/company/<company_id>/statistics", auth=READ, query=StatsQuery, response=CompanyStatisticsOut,
        summary="Figures of one company")
def get_company_statistics_by_id(company_id: str, query: StatsQuery):
    return statistics_out(*service.company_statistics(actor=current_principal(), company_id=company_id,
                                                        days=query.days))


@bp.get("/company/deleted", auth=READ, response=DeletedCompaniesOut,
        summary="Soft-deleted companies the caller may see")
def list_deleted_companies():
    items = [company_out(c) for c in service.list_deleted(current_principal())]
    return {"success": True, "deleted_companies": items, "companies": items, "data": items, "total": len(items)}


@bp.get("/company/<company_id>", auth=READ, response=CompanyFlatOut,
        summary="One company (own company, or any for a super admin)")
def get_company_by_id(company_id: str):
    return _flat(service.visible(current_principal(), company_id))


def _flat(company) -> dict:
    out = company_out(company)
    return {**out, "company": out}


@bp.put("/company/<company_id>", auth=ADMIN, body=CompanyUpdateIn, status=202, multipart=True, response=TaskAccepted,
        summary="Update a company (JSON, or multipart with a `logo` file)")
def update_company(company_id: str, body: CompanyUpdateIn):
    record = service.queue_update(company_id=company_id, changes=_changes(body), logo=request.files.get("logo"),
                                  actor=current_principal(), event="company.updated")
    return accepted_body(record, message="Company update queued")


@bp.patch("/company/<company_id>", auth=SUPER_ADMIN, body=CompanyUpdateIn, status=202, response=TaskAccepted,
          summary="Partially update a company (super admin)")
def patch_company(company_id: str, body: CompanyUpdateIn):
    record = service.queue_update(company_id=company_id, changes=_changes(body), logo=None,
                                  actor=current_principal(), event="company.patched")
    return accepted_body(record, message="Company update queued")


@bp.post("/company/<company_id>/suspend", auth=SUPER_ADMIN, response=CompanyFlatOut,
         summary="Suspend a company: its users, tokens, API keys and widget stop working (super admin)")
def suspend_company(company_id: str):
    return _flat(service.set_suspended(company_id=company_id, suspended=True, actor=current_principal()))


@bp.post("/company/<company_id>/reactivate", auth=SUPER_ADMIN, response=CompanyFlatOut,
         summary="Reactivate a suspended company (super admin)")
def reactivate_company(company_id: str):
    return _flat(service.set_suspended(company_id=company_id, suspended=False, actor=current_principal()))


@bp.delete("/company/<company_id>", auth=COMPANY_WRITE, status=202, response=TaskAccepted,
           summary="Soft-delete a company")
def delete_company(company_id: str):
    record = service.queue_delete(company_id=company_id, actor=current_principal())
    return accepted_body(record, message="Company deletion queued")


@bp.patch("/company/<company_id>/restore", auth=COMPANY_WRITE, status=202, response=TaskAccepted,
          summary="Restore a soft-deleted company")
def restore_company(company_id: str):
    record = service.queue_restore(company_id=company_id, actor=current_principal())
    return accepted_body(record, message="Company restore queued")


@bp.delete("/company/<company_id>/cascade-delete", auth=SUPER_ADMIN, body=CascadeIn, status=202,
           response=TaskAccepted, summary="Permanently delete a company and everything it owns (super admin)")
def cascade_delete_company(company_id: str, body: CascadeIn):
    record = service.queue_cascade_delete(company_id=company_id, delete_related=body.delete_related,
                                          actor=current_principal())
    return accepted_body(record, message="Company cascade deletion queued")


@bp.get("/company/<company_id>/related-data", auth=SUPER_ADMIN, response=RelatedDataOut,
        summary="What a company owns (super admin)")
def get_related_data_summary(company_id: str):
    company, counts = service.related_data(actor=current_principal(), company_id=company_id)
    return {"success": True, "company_id": str(company.id), "company_name": company.name,
            "related_data": counts, "counts": counts, "total_related_records": sum(counts.values())}


@bp.delete("/company/bulk-delete", auth=COMPANY_WRITE, body=CompanyIdsIn, status=202, response=TaskAccepted,
           summary="Soft-delete several companies")
def bulk_delete_companies(body: CompanyIdsIn):
    record = service.queue_bulk(company_ids=body.company_ids, restore=False, actor=current_principal())
    return accepted_body(record, message="Company deletion queued")


@bp.patch("/company/bulk-restore", auth=COMPANY_WRITE, body=CompanyIdsIn, status=202, response=TaskAccepted,
          summary="Restore several soft-deleted companies")
def bulk_restore_companies(body: CompanyIdsIn):
    record = service.queue_bulk(company_ids=body.company_ids, restore=True, actor=current_principal())
    return accepted_body(record, message="Company restore queued")
