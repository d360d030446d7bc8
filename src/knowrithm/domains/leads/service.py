"""Lead rules: public registration from the widget, admin CRUD, the status pipeline."""
from __future__ import annotations

import uuid
from datetime import datetime

from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from knowrithm.domains.agents.models import Agent
from knowrithm.domains.audit import service as audit
from knowrithm.domains.auth import tokens
from knowrithm.domains.companies.models import Company
from knowrithm.domains.widget import embed
from knowrithm.infra import ratelimit
from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db, sid, utcnow
from knowrithm.infra.errors import Conflict, Forbidden, Unauthorized, ValidationFailed
from knowrithm.infra.parsing import parse_uuid
from knowrithm.infra.tasks import TaskRecord, enqueue
from knowrithm.infra.tenancy import company_scope, get_or_404

from . import tasks
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


# --- public registration ---------------------------------------------------------------

def register(*, data: dict, client_ip: str | None, actor: Principal, origin: str | None = None) -> tuple[Lead, dict]:
    """Create the lead for (company, email), or find it, and open a NEW visitor session.

    Answers the same way for a known email (the widget silently re-registers whenever its
    token is refused), but the tokens belong to a fresh session that reaches none of an earlier
    session's conversations. The caller is unauthenticated, so it never overwrites what is
    stored: it may only fill fields that are empty, and that change is audited."""
    agent = embed.public_agent(data["agent_id"])
    embed.check_origin(agent, origin)
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
            for field in _REGISTER_FIELDS:
                if data.get(field) is not None:
                    setattr(lead, field, data[field])
            lead.source = data.get("source") or "website_chatbot"
            db.session.add(lead)
        else:
            if lead.deleted_at is not None:  # a removed lead who comes back is a new registration
                lead.restore()
                lead.is_active = True
            elif not lead.is_active:
                raise Forbidden("This visitor cannot start a conversation", code="LEAD_BLOCKED")
            filled = _fill_empty(lead, data)
            if filled:
                audit.record("lead.fields_filled", actor=actor, company_id=agent.company_id, entity_type="lead",
                             entity_id=lead.id, description="Empty lead fields filled by a widget registration",
                             details={"fields": filled, "agent_id": str(agent.id)})
        lead.agent_id = lead.agent_id or agent.id
        lead.last_activity = utcnow()
        if created:
            audit.record("lead.registered", actor=actor, company_id=agent.company_id, entity_type="lead",
                         details={"agent_id": str(agent.id)})
        try:
            db.session.commit()
        except IntegrityError:  # a concurrent registration with the same email won the insert
            db.session.rollback()
            lead = _find_by_email(email, include_deleted=False)
            if lead is None:
                raise
    return lead, lead_tokens(lead, session_id=uuid.uuid4())


# Fields a registration may set. Consents are set only on creation: an anonymous caller must
# not change what a known visitor agreed to.
_REGISTER_FIELDS = ("first_name", "last_name", "phone", "notes", "consent_data_processing", "consent_marketing")
_FILLABLE_FIELDS = ("first_name", "last_name", "phone", "notes", "source")


def _fill_empty(lead: Lead, data: dict) -> list[str]:
    filled = []
    for field in _FILLABLE_FIELDS:
        value = data.get(field)
        if value not in (None, "") and getattr(lead, field) in (None, ""):
            setattr(lead, field, value)
            filled.append(field)
    return filled


def lead_tokens(lead: Lead, *, session_id: uuid.UUID | str) -> dict:
    """Access + refresh token of one visitor session (`sid`); see conversations.access."""
    ttl = current_app.config["SETTINGS"].JWT_ACCESS_TTL_SECONDS
    claims = {"company_id": str(lead.company_id), "role": "lead", "sid": str(session_id)}
    access, payload = tokens.issue(str(lead.id), kind="lead", ttl=ttl, claims=claims)
    refresh, _ = tokens.issue(str(lead.id), kind="lead_refresh", ttl=LEAD_REFRESH_TTL, claims=claims)
    return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": ttl,
            "expires_at": payload["exp"], "session_id": str(session_id)}


def refresh(token: str, *, origin: str | None = None) -> tuple[Lead, dict]:
    """A new token pair for the same visitor session; the refresh token works once."""
    payload = tokens.decode(token, expected="lead_refresh")
    if not payload.get("sid"):
        raise Unauthorized("This visitor session cannot be resumed; register again", code="TOKEN_INVALID")
    with company_scope(payload.get("company_id")):
        lead = active_lead(_uuid_or_401(payload["sub"]))
        if lead.agent_id:
            embed.check_origin(db.session.get(Agent, lead.agent_id), origin)
    tokens.revoke(payload)
    return lead, lead_tokens(lead, session_id=payload["sid"])


def _uuid_or_401(value) -> uuid.UUID:
    key = parse_uuid(value)
    if key is None:
        raise Unauthorized("Invalid token", code="TOKEN_INVALID")
    return key


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


def create(*, company_id: uuid.UUID | str, data: dict, actor: Principal | None) -> Lead:
    company_id = parse_uuid(company_id, "company_id")
    validate_create(company_id=company_id, data=data)
    lead = Lead(company_id=company_id, email=data["email"].lower(), status=data.get("status") or "new",
                agent_id=parse_uuid(data["agent_id"], "agent_id") if data.get("agent_id") else None)
    for field in _PLAIN_FIELDS:
        if data.get(field) is not None:
            setattr(lead, field, data[field])
    lead.extra_metadata = _metadata({}, data)
    db.session.add(lead)
    audit.record("lead.created", actor=actor, company_id=company_id, entity_type="lead")
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("A lead with this email already exists", code="LEAD_EXISTS")
    return lead


def update(*, lead_id, data: dict, actor: Principal | None) -> Lead:
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
    audit.record("lead.updated", actor=actor, company_id=lead.company_id, entity_type="lead", entity_id=lead.id,
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


def delete(*, lead_id, actor: Principal | None) -> Lead:
    lead = get_or_404(Lead, lead_id, what="Lead")
    lead.soft_delete()
    lead.is_active = False
    audit.record("lead.deleted", actor=actor, company_id=lead.company_id, entity_type="lead", entity_id=lead.id)
    db.session.commit()
    return lead


def get(lead_id) -> Lead:
    return get_or_404(Lead, lead_id, what="Lead")


# --- the CLI's queued flavours: checked at once, written by the task ---------------------------

def queue_create(*, company_id, data: dict, actor: Principal) -> TaskRecord:
    validate_create(company_id=company_id, data=data)
    return enqueue(tasks.create_lead, company_id=company_id, data=data, initiated_by=sid(actor.user_id),
                   actor=audit.actor_ref(actor))


def queue_update(*, lead_id, data: dict, actor: Principal) -> TaskRecord:
    lead = get(lead_id)
    validate_update(lead, data)
    return enqueue(tasks.update_lead, company_id=lead.company_id, lead_id=str(lead.id), data=data,
                   initiated_by=sid(actor.user_id), actor=audit.actor_ref(actor))


def queue_delete(*, lead_id, actor: Principal) -> TaskRecord:
    lead = get(lead_id)
    return enqueue(tasks.delete_lead, company_id=lead.company_id, lead_id=str(lead.id),
                   initiated_by=sid(actor.user_id), actor=audit.actor_ref(actor))


def list_leads(*, page: int, per_page: int, status: str | None = None, search: str | None = None,
               agent_id: str | None = None, created_before: datetime | None = None,
               created_after: datetime | None = None) -> tuple[list[Lead], int]:
    stmt = select(Lead)
    if status:
        stmt = stmt.where(Lead.status == status)
    if agent_id:
        stmt = stmt.where(Lead.agent_id == parse_uuid(agent_id, "agent_id"))
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

