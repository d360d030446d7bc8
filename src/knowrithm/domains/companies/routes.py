"""Company routes (CONTRACT §2.5). Reads answer at once; writes are validated here, then
queued (202 + task) and audited by the task in the transaction that makes the change.

Static paths (`/company/statistics`, `/company/deleted`, `/company/bulk-*`) win over
`/company/<company_id>` because Werkzeug ranks static segments above converters.
"""
from __future__ import annotations

from flask import request

from knowrithm.domains.admin import audit
from knowrithm.infra.api import ApiBlueprint
from knowrithm.infra.auth import (ADMIN, ADMIN_ROLES, PUBLIC, READ, SUPER_ADMIN, Access, acting_company_id,
                                  current_principal)
from knowrithm.infra.errors import ValidationFailed
from knowrithm.infra.ratelimit import rate_limit
from knowrithm.infra.tasks import accepted_body, enqueue

from . import logos, service, tasks
from .schemas import (UPDATABLE, CascadeIn, CompanyCreateIn, CompanyIdsIn, CompanyListQuery, CompanyQuery,
                      CompanyUpdateIn, StatsQuery, company_out)

bp = ApiBlueprint("companies", __name__, tag="companies")

# Deleting or restoring a whole company: API keys need `write` (CONTRACT W); a person
# signed in with a JWT must also be an admin of it.
COMPANY_WRITE = Access("company_write", key_scope="write", roles=frozenset(ADMIN_ROLES))


def _changes(body) -> dict:
    return {k: v for k, v in body.model_dump(include=set(UPDATABLE)).items() if v is not None}


def _with_logo(changes: dict) -> dict:
    file = request.files.get("logo")
    if file is not None and file.filename:
        changes["logo"] = logos.save_logo(file)
    return changes


@bp.post("/company", auth=PUBLIC, body=CompanyCreateIn, status=202, multipart=True,
         summary="Create a company (JSON, or multipart with a `logo` file)")
@rate_limit("20/minute", scope="company_create")
def create_company(body: CompanyCreateIn):
    data = _changes(body)
    service.validate_changes(None, data)
    record = enqueue(tasks.create_company, data=_with_logo(data), actor=audit.actor_ref())
    return accepted_body(record, message="Company creation queued")


@bp.get("/company", auth=READ, query=CompanyQuery, summary="The caller's company (flat object)")
def get_company(query: CompanyQuery):
    company = service.visible(current_principal(), acting_company_id(query.company_id))
    out = company_out(company)
    return {**out, "company": out}


@bp.get("/super-admin/company", auth=SUPER_ADMIN, query=CompanyListQuery, summary="Every company (super admin)")
def list_companies(query: CompanyListQuery):
    rows, total = service.list_companies(page=query.page, per_page=query.per_page, status=query.status,
                                         search=query.search)
    items = [company_out(c) for c in rows]
    return {"success": True, "companies": items, "data": items,
            "pagination": service.pagination(query.page, query.per_page, total)}


def _statistics(company_id, days: int) -> dict:
    company = service.visible(current_principal(), company_id)
    return {"success": True, "company_id": str(company.id), "statistics": service.statistics(company.id, days)}


@bp.get("/company/statistics", auth=READ, query=StatsQuery, summary="Lead and conversation figures of the company")
def get_company_statistics(query: StatsQuery):
    return _statistics(acting_company_id(query.company_id), query.days)


@bp.get("/company/<company_id>/statistics", auth=READ, query=StatsQuery, summary="Figures of one company")
def get_company_statistics_by_id(company_id: str, query: StatsQuery):
    return _statistics(company_id, query.days)


@bp.get("/company/deleted", auth=READ, summary="Soft-deleted companies the caller may see")
def list_deleted_companies():
    items = [company_out(c) for c in service.list_deleted(current_principal())]
    return {"success": True, "deleted_companies": items, "companies": items, "data": items, "total": len(items)}


@bp.get("/company/<company_id>", auth=READ, summary="One company (own company, or any for a super admin)")
def get_company_by_id(company_id: str):
    out = company_out(service.visible(current_principal(), company_id))
    return {**out, "company": out}


def _queue_update(company_id: str, body: CompanyUpdateIn, event: str):
    company = service.visible(current_principal(), company_id)
    changes = _changes(body)
    service.validate_changes(company, changes)
    changes = _with_logo(changes)
    if not changes:
        raise ValidationFailed("Nothing to update", details={"body": [f"give at least one of {', '.join(UPDATABLE)}"]})
    record = enqueue(tasks.update_company, company_id=company.id, changes=changes, actor=audit.actor_ref(),
                     event=event)
    return accepted_body(record, message="Company update queued")


@bp.put("/company/<company_id>", auth=ADMIN, body=CompanyUpdateIn, status=202, multipart=True,
        summary="Update a company (JSON, or multipart with a `logo` file)")
def update_company(company_id: str, body: CompanyUpdateIn):
    return _queue_update(company_id, body, "company.updated")


@bp.patch("/company/<company_id>", auth=SUPER_ADMIN, body=CompanyUpdateIn, status=202,
          summary="Partially update a company (super admin)")
def patch_company(company_id: str, body: CompanyUpdateIn):
    return _queue_update(company_id, body, "company.patched")


@bp.delete("/company/<company_id>", auth=COMPANY_WRITE, status=202, summary="Soft-delete a company")
def delete_company(company_id: str):
    company = service.visible(current_principal(), company_id)
    record = enqueue(tasks.delete_company, company_id=company.id, actor=audit.actor_ref())
    return accepted_body(record, message="Company deletion queued")


@bp.patch("/company/<company_id>/restore", auth=COMPANY_WRITE, status=202, summary="Restore a soft-deleted company")
def restore_company(company_id: str):
    company = service.visible(current_principal(), company_id, include_deleted=True)
    record = enqueue(tasks.restore_company, company_id=company.id, actor=audit.actor_ref())
    return accepted_body(record, message="Company restore queued")


@bp.delete("/company/<company_id>/cascade-delete", auth=SUPER_ADMIN, body=CascadeIn, status=202,
           summary="Permanently delete a company and everything it owns (super admin)")
def cascade_delete_company(company_id: str, body: CascadeIn):
    company = service.visible(current_principal(), company_id, include_deleted=True)
    service.check_cascade(company, body.delete_related)
    record = enqueue(tasks.cascade_delete, company_id=company.id, delete_related=body.delete_related,
                     actor=audit.actor_ref())
    return accepted_body(record, message="Company cascade deletion queued")


@bp.get("/company/<company_id>/related-data", auth=SUPER_ADMIN, summary="What a company owns (super admin)")
def get_related_data_summary(company_id: str):
    company = service.visible(current_principal(), company_id, include_deleted=True)
    counts = service.related_counts(company.id)
    return {"success": True, "company_id": str(company.id), "company_name": company.name,
            "related_data": counts, "counts": counts, "total_related_records": sum(counts.values())}


@bp.delete("/company/bulk-delete", auth=COMPANY_WRITE, body=CompanyIdsIn, status=202,
           summary="Soft-delete several companies")
def bulk_delete_companies(body: CompanyIdsIn):
    rows = service.visible_many(current_principal(), body.company_ids, include_deleted=False)
    principal = current_principal()
    record = enqueue(tasks.bulk_delete, company_id=principal.company_id, company_ids=[str(c.id) for c in rows],
                     actor=audit.actor_ref(principal))
    return accepted_body(record, message="Company deletion queued")


@bp.patch("/company/bulk-restore", auth=COMPANY_WRITE, body=CompanyIdsIn, status=202,
          summary="Restore several soft-deleted companies")
def bulk_restore_companies(body: CompanyIdsIn):
    rows = service.visible_many(current_principal(), body.company_ids, include_deleted=True)
    principal = current_principal()
    record = enqueue(tasks.bulk_restore, company_id=principal.company_id, company_ids=[str(c.id) for c in rows],
                     actor=audit.actor_ref(principal))
    return accepted_body(record, message="Company restore queued")
