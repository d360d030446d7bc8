"""Who may erase or export what: the subject must be visible to the caller, else 404.

Leads are tenant-scoped (the request's company scope finds them, a super admin any); users and
companies are checked here against the caller's company, exactly as in their own domains.
"""
from __future__ import annotations

import uuid

from sqlalchemy import select

from knowrithm.domains.audit import service as audit
from knowrithm.domains.auth.models import User
from knowrithm.domains.companies import service as companies
from knowrithm.domains.companies.models import Company
from knowrithm.domains.leads.models import Lead
from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db
from knowrithm.infra.errors import Conflict, Forbidden, NotFound, ValidationFailed
from knowrithm.infra.tasks import TaskRecord, enqueue
from knowrithm.infra.tenancy import get_or_404

from . import erasure, export, retention, tasks


def visible_lead(lead_id) -> Lead:
    return get_or_404(Lead, lead_id, include_deleted=True, what="Lead")


def visible_user(actor: Principal, user_id) -> User:
    try:
        key = uuid.UUID(str(user_id))
    except (TypeError, ValueError):
        raise NotFound("User not found")
    user = db.session.execute(select(User).where(User.id == key).execution_options(include_deleted=True)
                              ).scalar_one_or_none()
    if user is None or (not actor.is_super_admin and user.company_id != actor.company_id):
        raise NotFound("User not found")
    return user


def exportable_user(actor: Principal, user_id) -> User:
    """A person may export their own data; an admin anyone of the company; a super admin anyone."""
    user = visible_user(actor, user_id)
    if user.id != actor.user_id and not actor.is_admin:
        raise Forbidden("Only an admin may export another person's data")
    return user


def erasable_user(actor: Principal, user_id) -> User:
    user = visible_user(actor, user_id)
    if user.role == "super_admin":
        raise Forbidden("A super admin account cannot be erased through the API", code="SUPER_ADMIN_PROTECTED")
    if user.id == actor.user_id:
        raise Conflict("You cannot erase your own account; ask another admin", code="SELF_ERASURE")
    return user


def visible_company(actor: Principal, company_id) -> Company:
    return companies.visible(actor, company_id, include_deleted=True)


def erasable_company(actor: Principal, company_id, confirm: str) -> Company:
    company = visible_company(actor, company_id)
    if confirm != str(company.id):
        raise ValidationFailed("Confirm the erasure by repeating the company id", code="CONFIRMATION_REQUIRED",
                               details={"confirm": ["must equal the id of the company to erase"]})
    return company


# --- the routes' entry points: check who may act, then act ------------------------------------

def erase_lead(*, actor: Principal, lead_id) -> dict:
    return erasure.erase_lead(lead_id=visible_lead(lead_id).id, actor=actor)


def erase_user(*, actor: Principal, user_id) -> dict:
    return erasure.erase_user(user_id=erasable_user(actor, user_id).id, actor=actor)


def queue_company_erasure(*, actor: Principal, company_id, confirm: str) -> TaskRecord:
    company = erasable_company(actor, company_id, confirm)
    return enqueue(tasks.erase_company, target_company_id=str(company.id), actor=audit.actor_ref(actor))


def queue_company_export(*, actor: Principal, company_id) -> TaskRecord:
    """Queues the export and audits the request in the same commit (an export is a high-risk read)."""
    company = visible_company(actor, company_id or actor.company_id)
    record = enqueue(tasks.export_company, company_id=company.id, commit=False)
    audit.record("export.company_requested", actor=actor, company_id=company.id, entity_type="company",
                 entity_id=company.id, category="export", risk_level="high", details={"task_id": str(record.id)})
    db.session.commit()
    return record


def lead_export(lead_id) -> dict:
    return export.lead_export(visible_lead(lead_id))


def user_export(*, actor: Principal, user_id) -> dict:
    return export.user_export(exportable_user(actor, user_id))


def retention_overview(*, actor: Principal, company_id) -> dict:
    company = visible_company(actor, company_id)
    return {"company_id": str(company.id), **retention.policy(company.id), "runs": retention.last_runs(company.id)}


def set_retention(*, actor: Principal, company_id, changes: dict) -> dict:
    company = visible_company(actor, company_id)
    return {"company_id": str(company.id), **retention.set_policy(company_id=company.id, changes=changes, actor=actor)}
