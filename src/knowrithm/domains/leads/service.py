"""Lead rules: public registration from the widget, admin CRUD, the status pipeline."""
from __future__ import annotations

import uuid
from datetime import datetime

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from knowrithm.domains.admin import audit
from knowrithm.domains.agents.models import Agent
from knowrithm.domains.auth import tokens
from knowrithm.domains.companies.models import Company
from knowrithm.infra.db import db, utcnow
from knowrithm.infra import ratelimit
from knowrithm.infra.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from knowrithm.infra.tenancy import company_scope, get_or_404

from .models import Lead

# Forward moves may skip steps; `converted` is final; a `lost` lead can be reopened.
TRANSITIONS = {
    "new": {"contacted", "qualified", "converted", "lost"},
    "contacted": {"qualified", "converted", "lost"},
    "qualified": {"converted", "lost"},
    "converted": set(),
    "lost": {"new", "contacted"},
}
REGISTER_RATE = "20/minute"  # per agent and client IP
LEAD_REFRESH_TTL = 30 * 24 * 3600

_PLAIN_FIELDS = ("first_name", "last_name", "phone", "source", "notes", "consent_data_processing",
                 "consent_marketing", "is_active")


def _uuid(value, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        raise ValidationFailed(f"Invalid {field}", details={field: ["must be a UUID"]})


# --- public registration ---------------------------------------------------------------

def public_agent(agent_id) -> Agent:
    """The agent named by a public caller (no company scope yet); 404 when absent or deleted."""
    key = _uuid(agent_id, "agent_id")
    agent = db.session.execute(select(Agent).where(Agent.id == key).execution_options(all_companies=True)
                               ).scalar_one_or_none()
    if agent is None:
        raise NotFound("Agent not found", code="AGENT_NOT_FOUND")
    return agent


def register(*, data: dict, client_ip: str | None) -> tuple[Lead, dict]:
    """Create or refresh the lead for (company, email) and issue lead tokens. Idempotent on purpose:
    the widget silently re-registers with the same payload whenever its token is refused."""
    agent = public_agent(data["agent_id"])
    company = db.session.get(Company, agent.company_id)
    if company is None or not company.is_active or company.deleted_at is not None:
        raise ValidationFailed("This company is not accepting conversations", code="COMPANY_INACTIVE")
    if agent.status not in ("active", "training"):
        raise ValidationFailed("This agent is not available", code="AGENT_INACTIVE",
                               details={"agent_id": ["agent is not active"]})
    ratelimit.check("lead-register", f"{agent.id}:{client_ip or '-'}", REGISTER_RATE,
                    message="Too many registrations, try again shortly")
    email = data["email"].lower()
    with company_scope(agent.company_id):
        lead = _find_by_email(email, include_deleted=True)
        created = lead is None
        if created:
            lead = Lead(company_id=agent.company_id, email=email, agent_id=agent.id, status="new")
            db.session.add(lead)
        elif lead.deleted_at is not None:  # a removed lead who comes back is a new registration
            lead.restore()
            lead.is_active = True
        elif not lead.is_active:
            raise Forbidden("This visitor cannot start a conversation", code="LEAD_BLOCKED")
        for field in ("first_name", "last_name", "phone", "notes", "consent_data_processing", "consent_marketing"):
            if data.get(field) is not None:
                setattr(lead, field, data[field])
        lead.source = data.get("source") or lead.source or "website_chatbot"
        lead.agent_id = lead.agent_id or agent.id
        lead.last_activity = utcnow()
        if created:
            audit.record("lead.registered", company_id=agent.company_id, entity_type="lead",
                         details={"agent_id": str(agent.id)})
        try:
            db.session.commit()
        except IntegrityError:  # a concurrent registration with the same email won the insert
            db.session.rollback()
            lead = _find_by_email(email, include_deleted=False)
            if lead is None:
                raise
    return lead, lead_tokens(lead)


def lead_tokens(lead: Lead) -> dict:
    ttl = current_app.config["SETTINGS"].JWT_ACCESS_TTL_SECONDS
    claims = {"company_id": str(lead.company_id), "role": "lead"}
    access, payload = tokens.issue(str(lead.id), kind="lead", ttl=ttl, claims=claims)
    refresh, _ = tokens.issue(str(lead.id), kind="lead_refresh", ttl=LEAD_REFRESH_TTL, claims=claims)
    return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": ttl,
            "expires_at": payload["exp"]}


def active_lead(lead_id) -> Lead:
    """The lead behind a lead token; a deleted or deactivated lead's tokens stop working."""
    lead = db.session.execute(select(Lead).where(Lead.id == lead_id)).scalar_one_or_none()
    if lead is None or not lead.is_active:
        raise Unauthorized("This visitor session is no longer valid", code="LEAD_INACTIVE")
    return lead


def _find_by_email(email: str, *, include_deleted: bool) -> Lead | None:
    stmt = select(Lead).where(func.lower(Lead.email) == email.lower()).execution_options(
        include_deleted=include_deleted)
    return db.session.execute(stmt).scalar_one_or_none()


# --- admin CRUD ------------------------------------------------------------------------

def validate_create(*, company_id: uuid.UUID, data: dict) -> None:
    with company_scope(company_id):
        if _find_by_email(data["email"], include_deleted=True) is not None:
            raise Conflict("A lead with this email already exists", code="LEAD_EXISTS",
                           details={"email": ["already registered for this company"]})
        if data.get("agent_id"):
            get_or_404(Agent, data["agent_id"], what="Agent")


def create(*, company_id: uuid.UUID | str, data: dict) -> Lead:
    company_id = _uuid(company_id, "company_id")
    validate_create(company_id=company_id, data=data)
    lead = Lead(company_id=company_id, email=data["email"].lower(), status=data.get("status") or "new",
                agent_id=_uuid(data["agent_id"], "agent_id") if data.get("agent_id") else None)
    for field in _PLAIN_FIELDS:
        if data.get(field) is not None:
            setattr(lead, field, data[field])
    lead.extra_metadata = _metadata({}, data)
    db.session.add(lead)
    audit.record("lead.created", company_id=company_id, entity_type="lead")
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("A lead with this email already exists", code="LEAD_EXISTS")
    return lead


def update(*, lead_id, data: dict) -> Lead:
    lead = get_or_404(Lead, lead_id, what="Lead")
    validate_update(lead, data)
    if data.get("email") and data["email"].lower() != lead.email:
        lead.email = data["email"].lower()
    if data.get("agent_id"):
        lead.agent_id = get_or_404(Agent, data["agent_id"], what="Agent").id
    for field in (*_PLAIN_FIELDS, "status"):
        if data.get(field) is not None:
            setattr(lead, field, data[field])
    lead.extra_metadata = _metadata(lead.extra_metadata or {}, data)
    audit.record("lead.updated", company_id=lead.company_id, entity_type="lead", entity_id=lead.id,
                 details={"fields": sorted(k for k, v in data.items() if v is not None)})
    db.session.commit()
    return lead


def validate_update(lead: Lead, data: dict) -> None:
    """Checks that need the current row: the status pipeline and email uniqueness."""
    new_status = data.get("status")
    if new_status and new_status != lead.status and new_status not in TRANSITIONS[lead.status]:
        allowed = ", ".join(sorted(TRANSITIONS[lead.status])) or "none"
        raise ValidationFailed(f"A {lead.status} lead cannot move to {new_status}", code="LEAD_STATUS",
                               details={"status": [f"allowed from {lead.status}: {allowed}"]})
    if data.get("email") and data["email"].lower() != lead.email:
        other = _find_by_email(data["email"], include_deleted=True)
        if other is not None and other.id != lead.id:
            raise Conflict("A lead with this email already exists", code="LEAD_EXISTS")
    if data.get("agent_id"):
        get_or_404(Agent, data["agent_id"], what="Agent")


def delete(*, lead_id) -> Lead:
    lead = get_or_404(Lead, lead_id, what="Lead")
    lead.soft_delete()
    lead.is_active = False
    audit.record("lead.deleted", company_id=lead.company_id, entity_type="lead", entity_id=lead.id)
    db.session.commit()
    return lead


def get(lead_id) -> Lead:
    return get_or_404(Lead, lead_id, what="Lead")


def list_leads(*, page: int, per_page: int, status: str | None = None, search: str | None = None,
               agent_id: str | None = None, created_before: datetime | None = None,
               created_after: datetime | None = None) -> tuple[list[Lead], int]:
    stmt = select(Lead)
    if status:
        stmt = stmt.where(Lead.status == status)
    if agent_id:
        stmt = stmt.where(Lead.agent_id == _uuid(agent_id, "agent_id"))
    if search:
        like = f"%{search.strip()}%"
        stmt = stmt.where(or_(Lead.email.ilike(like), Lead.first_name.ilike(like), Lead.last_name.ilike(like),
                              Lead.phone.ilike(like), (Lead.first_name + " " + Lead.last_name).ilike(like)))
    if created_before:
        stmt = stmt.where(Lead.created_at < created_before)
    if created_after:
        stmt = stmt.where(Lead.created_at > created_after)
    total = db.session.execute(stmt.with_only_columns(func.count(Lead.id))).scalar_one()
    rows = db.session.execute(stmt.order_by(Lead.created_at.desc(), Lead.id)
                              .offset((page - 1) * per_page).limit(per_page)).scalars().all()
    return list(rows), total


def _metadata(current: dict, data: dict) -> dict:
    meta = dict(current)
    if isinstance(data.get("metadata"), dict):
        meta.update(data["metadata"])
    if data.get("tags") is not None:
        meta["tags"] = list(data["tags"])
    if data.get("company") is not None:
        meta["company"] = data["company"]
    return meta


def pagination(page: int, per_page: int, total: int) -> dict:
    pages = (total + per_page - 1) // per_page if total else 0
    return {"page": page, "per_page": per_page, "total": total, "pages": pages,
            "has_next": page < pages, "has_prev": page > 1}
