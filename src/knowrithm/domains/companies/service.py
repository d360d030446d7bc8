"""Company rules: who may see which company, lifecycle (soft delete, restore, cascade) and figures.

`Company` is not `TenantOwned` (super admins list every company), so visibility is decided
here, once: a super admin sees any company, everyone else only their own, and any other
id answers 404 exactly like a missing one. Writes are validated here, queued (the clients
expect 202 + a task) and run by `tasks.py`, which audits in the same transaction as the change
with the actor the route passed in.
"""
from __future__ import annotations

import uuid
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, func, or_, select

from knowrithm import models as all_models  # noqa: F401  (every mapper registered for related_models)
from knowrithm.domains.audit import service as audit
from knowrithm.domains.auth import key_cache
from knowrithm.domains.auth.models import User
from knowrithm.domains.conversations import stream_claims
from knowrithm.domains.conversations.models import Conversation
from knowrithm.domains.documents.models import Document
from knowrithm.domains.geography.models import Address
from knowrithm.domains.leads.models import Lead
from knowrithm.infra.auth import Principal
from knowrithm.infra.db import Base, TenantOwned, db, utcnow
from knowrithm.infra.errors import Conflict, NotFound, ValidationFailed
from knowrithm.infra.parsing import parse_uuid
from knowrithm.infra.tasks import TaskRecord, enqueue
from knowrithm.integrations.storage import get_storage

from . import logos, tasks
from .models import Company
from .schemas import UPDATABLE

def related_models() -> dict[str, type]:
    """Everything a company owns, by table name: its users, every `TenantOwned` table, its address.

    Found from the mapped classes, so a new company-owned table is counted (and its rows
    block a cascade without `delete_related`) without being listed here.
    """
    owned = sorted((m.class_ for m in Base.registry.mappers if issubclass(m.class_, TenantOwned)),
                   key=lambda model: model.__tablename__)
    return {"users": User, **{model.__tablename__: model for model in owned}, "addresses": Address}


def load(company_id, *, include_deleted: bool = False) -> Company | None:
    key = parse_uuid(company_id)
    if key is None:
        return None
    stmt = select(Company).where(Company.id == key).execution_options(include_deleted=include_deleted)
    return db.session.execute(stmt).scalar_one_or_none()


def visible(actor: Principal, company_id, *, include_deleted: bool = False) -> Company:
    """The company if the actor may act on it (own company, or any for a super admin); else 404."""
    key = parse_uuid(company_id)
    if key is None or (not actor.is_super_admin and key != actor.company_id):
        raise NotFound("Company not found")
    company = load(key, include_deleted=include_deleted)
    if company is None:
        raise NotFound("Company not found")
    return company


def visible_many(actor: Principal, company_ids: list, *, include_deleted: bool = True) -> list[Company]:
    """All named companies, or 404 naming the ids the actor cannot see (nothing is changed then)."""
    wanted = list(dict.fromkeys(uuid.UUID(str(c)) for c in company_ids))
    allowed = wanted if actor.is_super_admin else [c for c in wanted if c == actor.company_id]
    found = list(db.session.execute(select(Company).where(Company.id.in_(allowed))
                                    .execution_options(include_deleted=include_deleted)).scalars()) if allowed else []
    missing = [str(c) for c in wanted if c not in {f.id for f in found}]
    if missing:
        raise NotFound("Company not found", details={"company_ids": [f"{c} not found" for c in missing]})
    return found


# --- input checks (run by the route before queueing, and again by the task) ---------------

def check_name_free(name: str | None, *, exclude_id=None) -> None:
    """One live company per name: the SDKs retry timed-out POSTs, which must not make twins."""
    if not name:
        return
    stmt = select(Company.id).where(func.lower(Company.name) == name.lower())
    if exclude_id is not None:
        stmt = stmt.where(Company.id != exclude_id)
    if db.session.execute(stmt).first():
        raise Conflict("A company with this name already exists", details={"name": [f"{name!r} is taken"]})


def check_address(address_id: int | None, *, company_id=None) -> None:
    """An address given by id must exist and be the company's own (or not yet anybody's)."""
    if address_id is None:
        return
    address = db.session.get(Address, address_id)
    if address is None or (address.company_id is not None and address.company_id != company_id):
        raise ValidationFailed("Unknown address", details={"address_id": [f"no address with id {address_id}"]})


def validate_changes(company: Company | None, changes: dict) -> None:
    check_name_free(changes.get("name"), exclude_id=company.id if company else None)
    check_address(changes.get("address_id"), company_id=company.id if company else None)


# --- queued writes: the routes' entry points ----------------------------------------------
# Input is checked here, before queueing, so bad input is still an immediate 400/409; the
# task runs the write below with the actor rebuilt from `audit.actor_ref`.

def _with_logo(changes: dict, logo) -> dict:
    if logo is not None and logo.filename:
        changes["logo"] = logos.save_logo(logo)
    return changes


def queue_create(*, data: dict, logo, actor: Principal | None) -> TaskRecord:
    validate_changes(None, data)
    return enqueue(tasks.create_company, data=_with_logo(data, logo), actor=audit.actor_ref(actor))


def queue_update(*, company_id, changes: dict, logo, actor: Principal, event: str) -> TaskRecord:
    company = visible(actor, company_id)
    validate_changes(company, changes)
    changes = _with_logo(changes, logo)
    if not changes:
        raise ValidationFailed("Nothing to update", details={"body": [f"give at least one of {', '.join(UPDATABLE)}"]})
    return enqueue(tasks.update_company, company_id=company.id, changes=changes, actor=audit.actor_ref(actor),
                   event=event)


def set_suspended(*, company_id, suspended: bool, actor: Principal) -> Company:
    """Suspension (super admin): the company's users can neither log in nor use their tokens
    or API keys, and its widget takes no new visitors, until it is reactivated. Nothing it owns
    is changed. Super admins are never locked out by their own company's state."""
    company = visible(actor, company_id)
    if company.id == actor.company_id and suspended:
        raise ValidationFailed("A super admin cannot suspend their own company", code="OWN_COMPANY")
    company.status, company.is_active = ("suspended", False) if suspended else ("active", True)
    event = "company.suspended" if suspended else "company.reactivated"
    audit.record(event, actor=actor, company_id=company.id, entity_type="company", entity_id=company.id,
                 description=f"Company {'suspended' if suspended else 'reactivated'}", risk_level="high")
    db.session.commit()
    return company


def queue_delete(*, company_id, actor: Principal) -> TaskRecord:
    company = visible(actor, company_id)
    return enqueue(tasks.delete_company, company_id=company.id, actor=audit.actor_ref(actor))


def queue_restore(*, company_id, actor: Principal) -> TaskRecord:
    company = visible(actor, company_id, include_deleted=True)
    return enqueue(tasks.restore_company, company_id=company.id, actor=audit.actor_ref(actor))


def queue_cascade_delete(*, company_id, delete_related: bool | None, actor: Principal) -> TaskRecord:
    company = visible(actor, company_id, include_deleted=True)
    check_cascade(company, delete_related)
    return enqueue(tasks.cascade_delete, company_id=company.id, delete_related=delete_related,
                   actor=audit.actor_ref(actor))


def queue_bulk(*, company_ids: list, restore: bool, actor: Principal) -> TaskRecord:
    rows = visible_many(actor, company_ids, include_deleted=restore)
    task = tasks.bulk_restore if restore else tasks.bulk_delete
    return enqueue(task, company_id=actor.company_id, company_ids=[str(c.id) for c in rows],
                   actor=audit.actor_ref(actor))


# --- writes (run by tasks) ----------------------------------------------------------------

def create(*, data: dict, actor: Principal | None) -> Company:
    # `.first()`: names are unique only for companies made here (registration may add twins).
    existing = db.session.execute(select(Company).where(func.lower(Company.name) == data["name"].lower(),
                                                        Company.email == data.get("email"))).scalars().first()
    if existing is not None:
        return existing  # a re-delivered task: the company is already there
    validate_changes(None, data)
    company = Company(**{k: data.get(k) for k in UPDATABLE if data.get(k) is not None})
    db.session.add(company)
    db.session.flush()
    if data.get("address_id"):
        db.session.get(Address, data["address_id"]).company_id = company.id
    audit.record("company.created", actor=actor, company_id=company.id, entity_type="company", entity_id=company.id,
                 description=f"Company {company.name} created", details={"name": company.name})
    db.session.commit()
    return company


def update(*, company_id, changes: dict, actor: Principal | None, event: str = "company.updated") -> Company:
    company = load(company_id)
    if company is None:
        raise NotFound("Company not found")
    validate_changes(company, changes)
    old_logo = company.logo
    changed = {}
    for field in UPDATABLE:
        if field in changes and changes[field] is not None and getattr(company, field) != changes[field]:
            setattr(company, field, changes[field])
            changed[field] = changes[field]
    if "address_id" in changed:
        db.session.get(Address, changed["address_id"]).company_id = company.id
    if changed:
        audit.record(event, actor=actor, company_id=company.id, entity_type="company", entity_id=company.id,
                     description=f"Company {company.name} updated", details={"fields": sorted(changed)})
    db.session.commit()
    if "logo" in changed and old_logo != company.logo:
        logos.delete_logo(old_logo)
    return company


def soft_delete(*, company_ids: list, actor: Principal | None) -> list[str]:
    """Soft-deletes the live ones of `company_ids`; returns the ids actually deleted (idempotent)."""
    done = []
    for company in db.session.execute(select(Company).where(Company.id.in_([uuid.UUID(str(c)) for c in company_ids]))
                                      ).scalars():
        company.soft_delete()
        done.append(str(company.id))
        audit.record("company.deleted", actor=actor, company_id=company.id, entity_type="company",
                     entity_id=company.id, risk_level="high", description=f"Company {company.name} deleted")
    db.session.commit()
    return done


def restore(*, company_ids: list, actor: Principal | None) -> tuple[list[Company], list[str]]:
    """Restores the deleted ones of `company_ids`; returns every named company and the restored ids."""
    rows = list(db.session.execute(
        select(Company).where(Company.id.in_([uuid.UUID(str(c)) for c in company_ids]))
        .execution_options(include_deleted=True)).scalars())
    restored = []
    for company in rows:
        if company.deleted_at is not None:
            company.restore()
            restored.append(str(company.id))
            audit.record("company.restored", actor=actor, company_id=company.id, entity_type="company",
                         entity_id=company.id, risk_level="medium",
                         description=f"Company {company.name} restored")
    db.session.commit()
    return rows, restored


def related_counts(company_id: uuid.UUID) -> dict[str, int]:
    """Rows the company owns, soft-deleted ones included (a cascade delete removes those too)."""
    counts = {}
    for name, model in related_models().items():
        stmt = select(func.count()).select_from(model).where(model.company_id == company_id) \
            .execution_options(all_companies=True, include_deleted=True)
        counts[name] = db.session.execute(stmt).scalar_one()
    return counts


def check_cascade(company: Company, delete_related: bool | None) -> dict[str, int]:
    counts = related_counts(company.id)
    if delete_related is False and any(counts.values()):
        raise Conflict("Company still has related data; pass delete_related=true to remove it as well",
                       details={k: [f"{v} record(s)"] for k, v in counts.items() if v})
    return counts


def cascade_delete(*, company_id, delete_related: bool | None, actor: Principal | None) -> dict:
    """Removes the company and everything it owns for good (the foreign keys cascade)."""
    company = load(company_id, include_deleted=True)
    if company is None:
        return {"company_id": str(company_id), "deleted": False, "deleted_counts": {}}  # already gone
    counts = check_cascade(company, delete_related)
    files = [p for p in db.session.execute(
        select(Document.storage_path).where(Document.company_id == company.id, Document.storage_path.is_not(None))
        .execution_options(all_companies=True, include_deleted=True)).scalars()]
    logo, name = company.logo, company.name
    db.session.execute(delete(Address).where(Address.company_id == company.id))
    db.session.execute(delete(Company).where(Company.id == company.id))
    audit.record("company.cascade_deleted", actor=actor, company_id=company.id, entity_type="company",
                 entity_id=company.id, risk_level="critical",
                 description=f"Company {name} and all its data permanently deleted", details=counts)
    db.session.commit()
    key_cache.invalidate()  # its API keys went with a bulk DELETE (no ORM events)
    stream_claims.invalidate()
    storage = get_storage(current_app.config["SETTINGS"])
    for path in files:
        try:
            storage.delete(path)
        except Exception:  # noqa: BLE001 - the rows are gone; an orphan file is only disk space
            current_app.logger.warning("could not delete stored file %s", path)
    logos.delete_logo(logo)
    return {"company_id": str(company.id), "deleted": True, "deleted_counts": counts}


# --- reads ----------------------------------------------------------------------------

def related_data(*, actor: Principal, company_id) -> tuple[Company, dict[str, int]]:
    company = visible(actor, company_id, include_deleted=True)
    return company, related_counts(company.id)


def company_statistics(*, actor: Principal, company_id, days: int) -> tuple[Company, dict]:
    company = visible(actor, company_id)
    return company, statistics(company.id, days)


def statistics(company_id: uuid.UUID, days: int) -> dict:
    since = utcnow() - timedelta(days=days)

    def count(model, *conditions) -> int:
        stmt = select(func.count()).select_from(model).where(
            model.company_id == company_id, model.deleted_at.is_(None), *conditions
        ).execution_options(all_companies=True)
        return db.session.execute(stmt).scalar_one()

    total = count(Lead, Lead.created_at >= since)
    qualified = count(Lead, Lead.created_at >= since, Lead.status.in_(("qualified", "converted")))
    converted = count(Lead, Lead.created_at >= since, Lead.status == "converted")
    active = count(Conversation, Conversation.status == "active",
                   func.coalesce(Conversation.last_activity, Conversation.created_at) >= since)
    return {
        "total_leads": total, "qualified_leads": qualified, "converted_leads": converted,
        "active_conversations": active,
        "total_conversations": count(Conversation, Conversation.created_at >= since),
        "conversion_rate": round(100.0 * converted / total, 2) if total else 0.0,
        "period_days": days,
    }


def list_companies(*, page: int, per_page: int, status: str | None, search: str | None) -> tuple[list, int]:
    stmt = select(Company)
    if status == "deleted":
        stmt = stmt.where(Company.deleted_at.is_not(None)).execution_options(include_deleted=True)
    elif status:
        stmt = stmt.where(Company.status == status)
    if search:
        like = f"%{search.strip()}%"
        stmt = stmt.where(or_(Company.name.ilike(like), Company.email.ilike(like)))
    total = db.session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = db.session.execute(stmt.order_by(Company.created_at.desc(), Company.id)
                              .limit(per_page).offset((page - 1) * per_page)).scalars()
    return list(rows), total


def list_deleted(actor: Principal) -> list[Company]:
    stmt = select(Company).where(Company.deleted_at.is_not(None)).execution_options(include_deleted=True)
    if not actor.is_super_admin:
        stmt = stmt.where(Company.id == actor.company_id)
    return list(db.session.execute(stmt.order_by(Company.deleted_at.desc())).scalars())
