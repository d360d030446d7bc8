"""Company rules: who may see which company, lifecycle (soft delete, restore, cascade) and figures.

`Company` is not `TenantOwned` (super admins list every company), so visibility is decided
here, once: a super admin sees any company, everyone else only their own, and any other
id answers 404 exactly like a missing one. Writes run in tasks (`tasks.py`) and are
audited in the same transaction as the change, with the actor captured by the route.
"""
from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import delete, func, or_, select

from knowrithm.domains.admin import audit
from knowrithm.domains.agents.models import Agent
from knowrithm.domains.auth.models import ApiKey, User
from knowrithm.domains.conversations.models import Conversation, Message
from knowrithm.domains.databases.models import DatabaseConnection, DatabaseTable
from knowrithm.domains.documents.models import Document, DocumentChunk
from knowrithm.domains.geography.models import Address
from knowrithm.domains.leads.models import Lead
from knowrithm.domains.llm.models import LLMSettings
from knowrithm.domains.websites.models import WebsitePage, WebsiteSource
from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db, utcnow
from knowrithm.infra.errors import Conflict, NotFound, ValidationFailed

from . import logos
from .models import Company
from .schemas import UPDATABLE

# Everything a company owns, in the order the related-data summary lists it.
RELATED = {
    "users": User, "api_keys": ApiKey, "agents": Agent, "llm_settings": LLMSettings,
    "documents": Document, "document_chunks": DocumentChunk, "database_connections": DatabaseConnection,
    "database_tables": DatabaseTable, "website_sources": WebsiteSource, "website_pages": WebsitePage,
    "conversations": Conversation, "messages": Message, "leads": Lead, "addresses": Address,
}


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def load(company_id, *, include_deleted: bool = False) -> Company | None:
    key = _uuid(company_id)
    if key is None:
        return None
    stmt = select(Company).where(Company.id == key).execution_options(include_deleted=include_deleted)
    return db.session.execute(stmt).scalar_one_or_none()


def visible(actor: Principal, company_id, *, include_deleted: bool = False) -> Company:
    """The company if the actor may act on it (own company, or any for a super admin); else 404."""
    key = _uuid(company_id)
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


# --- writes (tasks) -------------------------------------------------------------------

def create(*, data: dict, actor: dict | None = None) -> Company:
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
    audit.record_for(actor, "company.created", company_id=company.id, entity_type="company", entity_id=company.id,
                     description=f"Company {company.name} created", details={"name": company.name})
    db.session.commit()
    return company


def update(*, company_id, changes: dict, actor: dict | None = None, event: str = "company.updated") -> Company:
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
        audit.record_for(actor, event, company_id=company.id, entity_type="company", entity_id=company.id,
                         description=f"Company {company.name} updated", details={"fields": sorted(changed)})
    db.session.commit()
    if "logo" in changed and old_logo != company.logo:
        logos.delete_logo(old_logo)
    return company


def soft_delete(*, company_ids: list, actor: dict | None = None) -> list[str]:
    """Soft-deletes the live ones of `company_ids`; returns the ids actually deleted (idempotent)."""
    done = []
    for company in db.session.execute(select(Company).where(Company.id.in_([uuid.UUID(str(c)) for c in company_ids]))
                                      ).scalars():
        company.soft_delete()
        done.append(str(company.id))
        audit.record_for(actor, "company.deleted", company_id=company.id, entity_type="company",
                         entity_id=company.id, risk_level="high", description=f"Company {company.name} deleted")
    db.session.commit()
    return done


def restore(*, company_ids: list, actor: dict | None = None) -> tuple[list[Company], list[str]]:
    """Restores the deleted ones of `company_ids`; returns every named company and the restored ids."""
    rows = list(db.session.execute(
        select(Company).where(Company.id.in_([uuid.UUID(str(c)) for c in company_ids]))
        .execution_options(include_deleted=True)).scalars())
    restored = []
    for company in rows:
        if company.deleted_at is not None:
            company.restore()
            restored.append(str(company.id))
            audit.record_for(actor, "company.restored", company_id=company.id, entity_type="company",
                             entity_id=company.id, risk_level="medium",
                             description=f"Company {company.name} restored")
    db.session.commit()
    return rows, restored


def related_counts(company_id: uuid.UUID) -> dict[str, int]:
    """Rows the company owns, soft-deleted ones included (a cascade delete removes those too)."""
    counts = {}
    for name, model in RELATED.items():
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


def cascade_delete(*, company_id, delete_related: bool | None, actor: dict | None = None) -> dict:
    """Removes the company and everything it owns for good (the foreign keys cascade)."""
    from knowrithm.domains.auth import key_cache
    from knowrithm.integrations.storage import get_storage

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
    audit.record_for(actor, "company.cascade_deleted", company_id=company.id, entity_type="company",
                     entity_id=company.id, risk_level="critical",
                     description=f"Company {name} and all its data permanently deleted", details=counts)
    db.session.commit()
    key_cache.invalidate()  # its API keys went with a bulk DELETE (no ORM events)
    from flask import current_app

    storage = get_storage(current_app.config["SETTINGS"])
    for path in files:
        try:
            storage.delete(path)
        except Exception:  # noqa: BLE001 - the rows are gone; an orphan file is only disk space
            current_app.logger.warning("could not delete stored file %s", path)
    logos.delete_logo(logo)
    return {"company_id": str(company.id), "deleted": True, "deleted_counts": counts}


# --- reads ----------------------------------------------------------------------------

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


def pagination(page: int, per_page: int, total: int) -> dict:
    """Both key sets: the usual one and the original super-admin listing's (CONTRACT §1.7)."""
    pages = (total + per_page - 1) // per_page if total else 0
    return {"page": page, "per_page": per_page, "total": total, "pages": pages,
            "current_page": page, "total_items": total, "total_pages": pages,
            "has_next": page < pages, "has_prev": page > 1,
            "next_page": page + 1 if page < pages else None, "prev_page": page - 1 if page > 1 else None}
