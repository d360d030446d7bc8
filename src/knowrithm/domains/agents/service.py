"""Agent lifecycle: create with LLM settings, list, find, update, soft delete/restore, stats.

Every function takes explicit keyword inputs (company, actor, validated fields) so routes,
the `/sdk` synchronous twins and Celery tasks share it. Queries rely on the tenancy filter:
a row of another company is simply not found.
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, or_, select

from knowrithm.domains.admin import audit
from knowrithm.domains.conversations.models import Conversation, Message
from knowrithm.domains.databases.models import DatabaseConnection
from knowrithm.domains.documents.models import Document, DocumentChunk
from knowrithm.domains.llm.models import LLMSettings
from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db
from knowrithm.infra.errors import NotFound, ValidationFailed
from knowrithm.infra.tenancy import get_or_404

from . import embed
from .models import Agent
from .schemas import AGENT_FIELDS, SETTINGS_FIELDS, AgentCreate, AgentUpdate, agent_out

MAX_PER_PAGE = 100
# Keys of a nested settings object that never reach the settings service.
_NOT_SETTINGS = {"company_id", "agent_id", "id"}


def _llm():
    # Imported lazily: the llm domain imports agents' models, and this keeps the import graph acyclic.
    from knowrithm.domains.llm import service

    return service


# --- reading --------------------------------------------------------------------------

def settings_of(agent: Agent) -> LLMSettings | None:
    if agent.llm_settings_id is None:
        return None
    return db.session.execute(select(LLMSettings).where(LLMSettings.id == agent.llm_settings_id)).scalar_one_or_none()


def counts_for(agent_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict]:
    """Conversation, message, document and database figures per agent, in four grouped queries."""
    out: dict[uuid.UUID, dict] = {a: {"conversations": 0, "messages": 0, "documents": 0, "databases": 0,
                                      "rating": 0.0} for a in agent_ids}
    if not agent_ids:
        return out
    rows = db.session.execute(
        select(Conversation.agent_id, func.count(Conversation.id), func.avg(Conversation.lead_satisfaction))
        .where(Conversation.agent_id.in_(agent_ids)).group_by(Conversation.agent_id))
    for agent_id, n, rating in rows:
        out[agent_id].update(conversations=n, rating=round(float(rating), 2) if rating is not None else 0.0)
    rows = db.session.execute(
        select(Conversation.agent_id, func.count(Message.id)).join(Message, Message.conversation_id == Conversation.id)
        .where(Conversation.agent_id.in_(agent_ids)).group_by(Conversation.agent_id))
    for agent_id, n in rows:
        out[agent_id]["messages"] = n
    for model, key in ((Document, "documents"), (DatabaseConnection, "databases")):
        rows = db.session.execute(select(model.agent_id, func.count(model.id))
                                  .where(model.agent_id.in_(agent_ids)).group_by(model.agent_id))
        for agent_id, n in rows:
            out[agent_id][key] = n
    return out


def serialise(agent: Agent, settings: LLMSettings | None = None, counts: dict | None = None) -> dict:
    settings = settings if settings is not None else settings_of(agent)
    counts = counts if counts is not None else counts_for([agent.id])[agent.id]
    code = embed.simple_snippet(agent, settings) if settings is not None else None
    return agent_out(agent, settings=settings, counts=counts, embed_code=code)


def list_agents(*, status: str | None = None, search: str | None = None, page: int = 1,
                per_page: int = 10) -> dict:
    per_page = min(per_page, MAX_PER_PAGE)
    stmt = select(Agent)
    if status:
        stmt = stmt.where(Agent.status == status)
    if search and search.strip():
        pattern = f"%{_escape_like(search.strip())}%"
        stmt = stmt.where(or_(Agent.name.ilike(pattern, escape="\\"), Agent.description.ilike(pattern, escape="\\")))
    total = db.session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    agents = list(db.session.execute(
        stmt.order_by(Agent.created_at.desc(), Agent.id).offset((page - 1) * per_page).limit(per_page)).scalars())
    counts = counts_for([a.id for a in agents])
    items = [serialise(a, counts=counts[a.id]) for a in agents]
    pages = (total + per_page - 1) // per_page
    pagination = {"page": page, "per_page": per_page, "total": total, "pages": pages,
                  "has_next": page < pages, "has_prev": page > 1}
    # `data` is the alias the CLI's name resolver falls back to (CONTRACT G3).
    return {"agents": items, "data": items, "pagination": pagination, "total": total}


def find_by_name(name: str) -> Agent:
    agent = db.session.execute(
        select(Agent).where(func.lower(Agent.name) == name.strip().lower())
        .order_by(Agent.created_at, Agent.id).limit(1)).scalar_one_or_none()
    if agent is None:
        raise NotFound(f"Agent '{name}' not found", code="AGENT_NOT_FOUND")
    return agent


def get_agent(agent_id, *, include_deleted: bool = False) -> Agent:
    return get_or_404(Agent, agent_id, include_deleted=include_deleted, what="Agent")


def stats(agent: Agent) -> dict:
    settings = settings_of(agent)
    counts = counts_for([agent.id])[agent.id]
    return {
        "agent_id": str(agent.id), "agent_name": agent.name, "status": agent.status,
        "total_conversations": counts["conversations"], "total_messages": counts["messages"],
        "average_rating": counts["rating"], "documents_count": counts["documents"],
        "databases_count": counts["databases"],
        "chunks_count": db.session.execute(select(func.count(DocumentChunk.id))
                                           .where(DocumentChunk.agent_id == agent.id)).scalar_one(),
        "llm_provider": settings.llm_provider.label if settings else None,
        "llm_model": settings.llm_model.name if settings else None,
        "embedding_model": settings.embedding_model.name if settings else None,
        "last_trained": agent.last_trained.isoformat() if agent.last_trained else None,
        "created_at": agent.created_at.isoformat() if agent.created_at else None,
    }


# --- settings for an agent ------------------------------------------------------------

def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None and k not in _NOT_SETTINGS}


def _with_refs_from(base: LLMSettings | None, fields: dict[str, Any]) -> dict[str, Any]:
    """Completes a partial settings payload from `base`, side by side (llm, embedding).

    A side the payload does not mention keeps `base`'s provider and model; a model named
    without its provider stays with `base`'s provider (as the settings service does on update).
    """
    if base is None:
        return fields
    out = dict(fields)
    for side in ("llm", "embedding"):
        provider = out.get(f"{side}_provider") or out.get(f"{side}_provider_id")
        model_name, model_id = out.get(f"{side}_model"), out.get(f"{side}_model_id")
        if not provider and not model_name and not model_id:
            out[f"{side}_provider_id"] = str(getattr(base, f"{side}_provider_id"))
            out[f"{side}_model_id"] = str(getattr(base, f"{side}_model_id"))
        elif not provider and model_name and not model_id:
            out[f"{side}_provider_id"] = str(getattr(base, f"{side}_provider_id"))
    return out


def _names_both_sides(fields: dict[str, Any]) -> bool:
    return all(any(fields.get(f"{side}_{part}") not in (None, "") for part in ("provider", "provider_id", "model",
                                                                                  "model_id"))
               for side in ("llm", "embedding"))


def company_settings(settings_id) -> LLMSettings:
    try:
        return get_or_404(LLMSettings, settings_id, what="LLM settings")
    except NotFound:
        # A body field pointing nowhere is the caller's input error, not a missing URL.
        raise ValidationFailed("Unknown llm_settings_id", code="UNKNOWN_SETTINGS",
                               details={"llm_settings_id": ["no such settings in your company"]})


def settings_for_new_agent(*, company_id: uuid.UUID, agent: Agent, body: AgentCreate) -> LLMSettings:
    """D-13: nested settings win, then flat ids, then `llm_settings_id`, then the company default.

    The agent must already be flushed: the settings service links it to settings it creates.
    """
    llm = _llm()
    nested = body.settings or body.llm_settings
    flat = _clean({k: getattr(body, k, None) for k in SETTINGS_FIELDS})
    fields = _clean(nested) if nested else flat
    if _names_both_sides(fields):
        return llm.create_settings(company_id=company_id, agent_id=agent.id, **fields)
    base = company_settings(body.llm_settings_id) if body.llm_settings_id else llm.default_settings(company_id)
    if not fields:
        return base  # shared settings: the agent points at them, nothing is copied
    # Only overrides (a temperature, a key...): the agent gets its own settings on the base's models.
    return llm.create_settings(company_id=company_id, agent_id=agent.id, **_with_refs_from(base, fields))


def replace_settings(agent: Agent, old: LLMSettings | None, fields: dict[str, Any]) -> LLMSettings:
    """D-15: a settings object on update. The agent's own settings are updated in place (keys kept);
    shared settings (the company default) are left alone and the agent gets its own copy."""
    llm = _llm()
    fields = _clean(fields)
    if old is not None and old.agent_id == agent.id and not old.is_default:
        row, _ = llm.update_settings(old, **fields)
        return row
    return llm.create_settings(company_id=agent.company_id, agent_id=agent.id, **_with_refs_from(old, fields))


# --- writing --------------------------------------------------------------------------

def _agent_values(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k in AGENT_FIELDS and v is not None}


def create_agent(*, company_id: uuid.UUID, actor: Principal | None, body: AgentCreate) -> tuple[Agent, LLMSettings]:
    """Creates the agent and its settings in the caller's transaction (not committed here)."""
    agent = Agent(id=uuid.uuid4(), company_id=company_id, status="active", personality_traits={}, capabilities=[],
                  operating_hours={}, languages=["en"], created_by=actor.user_id if actor else None)
    for key, value in _agent_values(body.model_dump()).items():
        setattr(agent, key, value)
    db.session.add(agent)
    db.session.flush()
    settings = settings_for_new_agent(company_id=company_id, agent=agent, body=body)
    agent.llm_settings_id = settings.id
    agent.active_embedding_model = _llm().embedding_model_key(settings)
    db.session.flush()
    audit.record("agent.created", actor=actor, company_id=company_id, entity_type="agent", entity_id=agent.id,
                 description=f"Agent '{agent.name}' created", details={"llm_settings_id": str(settings.id)})
    return agent, settings


def update_agent(agent: Agent, *, actor: Principal | None, body: AgentUpdate) -> Agent:
    """Applies a partial update; a `settings` object updates/replaces the agent's LLM settings.

    When the embedding model changes, indexed knowledge is re-embedded in the background.
    """
    fields = body.model_dump(exclude_unset=True)
    values = _agent_values(fields)
    for key, value in values.items():
        setattr(agent, key, value)
    changed = sorted(values)
    old = settings_of(agent)
    new = old
    nested = body.settings or body.llm_settings
    if nested:
        new = replace_settings(agent, old, nested)
    elif body.llm_settings_id:
        new = company_settings(body.llm_settings_id)
    if new is not None and (new is not old or nested):
        agent.llm_settings_id = new.id
        changed.append("settings")
        if new is not old and old is not None:
            _retire_if_orphaned(agent, old)
    refresh_embedding_model(agent)
    db.session.flush()
    audit.record("agent.updated", actor=actor, company_id=agent.company_id, entity_type="agent",
                 entity_id=agent.id, description=f"Agent '{agent.name}' updated", details={"fields": changed})
    return agent


def _retire_if_orphaned(agent: Agent, old: LLMSettings) -> None:
    """Settings made for this agent alone are soft-deleted when it switches away, unless another
    agent was pointed at them meanwhile."""
    if old.agent_id != agent.id or old.is_default:
        return
    db.session.flush()
    if not _llm().agents_using(old):
        old.soft_delete()


def refresh_embedding_model(agent: Agent) -> None:
    """Keeps `active_embedding_model` true to the chunks after a settings change: the settings
    service adopts the new model at once when nothing is indexed, otherwise it marks the agent
    `reembed_status = "pending"` and queues the documents domain's re-embed task (after commit)."""
    settings = settings_of(agent)
    if settings is not None and agent.active_embedding_model != _llm().embedding_model_key(settings):
        db.session.flush()  # the settings service finds the agent by its (new) settings link
        _llm().reembed_stale_agents(settings)


def ensure_deletable(agent: Agent) -> None:
    active = db.session.execute(
        select(func.count(Conversation.id)).where(Conversation.agent_id == agent.id, Conversation.status == "active")
    ).scalar_one()
    if active:
        raise ValidationFailed(
            f"Agent has {active} active conversation(s); archive or delete them before deleting the agent",
            code="AGENT_HAS_ACTIVE_CONVERSATIONS", details={"active_conversations": [str(active)]})


def delete_agent(agent: Agent, *, actor: Principal | None) -> None:
    ensure_deletable(agent)
    if agent.deleted_at is None:
        agent.soft_delete()
        audit.record("agent.deleted", actor=actor, company_id=agent.company_id, entity_type="agent",
                     entity_id=agent.id, description=f"Agent '{agent.name}' deleted", risk_level="medium")


def restore_agent(agent: Agent, *, actor: Principal | None) -> Agent:
    if agent.deleted_at is not None:
        agent.restore()
        audit.record("agent.restored", actor=actor, company_id=agent.company_id, entity_type="agent",
                     entity_id=agent.id, description=f"Agent '{agent.name}' restored")
    return agent


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# --- what the routes call: one change, one commit, tasks queued after it ---------------

def _tasks():
    from . import tasks  # tasks import this module

    return tasks


def create_and_confirm(*, company_id: uuid.UUID, actor: Principal | None, body: AgentCreate) -> dict:
    from knowrithm.infra.tasks import accepted_body, enqueue

    agent, _ = create_agent(company_id=company_id, actor=actor, body=body)
    record = enqueue(_tasks().confirm_agent, company_id=company_id, agent_id=str(agent.id),
                     message="Agent created successfully")
    return accepted_body(record, message="Agent creation accepted.", agent_id=str(agent.id))


def update_and_report(agent_id, *, actor: Principal | None, body: AgentUpdate, sync: bool) -> dict:
    from knowrithm.infra.tasks import accepted_body, enqueue

    agent = update_agent(get_agent(agent_id), actor=actor, body=body)
    if sync:
        db.session.commit()
        return {"agent": serialise(agent), "initiated_by": _initiator(actor), "message": "Agent updated successfully"}
    record = enqueue(_tasks().confirm_agent, company_id=agent.company_id, agent_id=str(agent.id),
                     message="Agent updated successfully", with_settings=False)
    return accepted_body(record, message="Agent update accepted.", agent_id=str(agent.id))


def delete(agent_id, *, actor: Principal | None, sync: bool) -> dict:
    from knowrithm.infra.tasks import accepted_body, enqueue

    agent = get_agent(agent_id)
    ensure_deletable(agent)  # the 400 comes now, not as a failed task
    if sync:
        delete_agent(agent, actor=actor)
        db.session.commit()
        return {"agent_id": str(agent.id), "initiated_by": _initiator(actor), "message": "Agent deleted successfully"}
    tasks = _tasks()
    record = enqueue(tasks.delete_agent, company_id=agent.company_id, agent_id=str(agent.id),
                     **tasks.actor_kwargs(actor))
    return accepted_body(record, message="Agent deletion accepted.", agent_id=str(agent.id))


def queue_restore(agent_id, *, actor: Principal | None) -> dict:
    from knowrithm.infra.tasks import accepted_body, enqueue

    agent = get_agent(agent_id, include_deleted=True)
    tasks = _tasks()
    record = enqueue(tasks.restore_agent, company_id=agent.company_id, agent_id=str(agent.id),
                     **tasks.actor_kwargs(actor))
    return accepted_body(record, message="Agent restore accepted.", agent_id=str(agent.id))


def queue_clone(agent_id, *, actor: Principal | None, name: str | None, description: str | None,
                llm_settings_id: str | None) -> dict:
    from knowrithm.infra.tasks import accepted_body, enqueue

    agent = get_agent(agent_id)
    if llm_settings_id:
        company_settings(llm_settings_id)  # a bad id is a 400 now
    tasks = _tasks()
    new_id = str(uuid.uuid4())  # chosen here so a re-run of the task finds its own clone
    record = enqueue(tasks.clone_agent, company_id=agent.company_id, source_id=str(agent.id), new_id=new_id,
                     name=name, description=description, llm_settings_id=llm_settings_id,
                     **tasks.actor_kwargs(actor))
    return accepted_body(record, message="Agent clone accepted.", estimated_time=10, clone_agent_id=new_id)


def queue_test(agent_id, *, query: str | None) -> dict:
    from knowrithm.infra.tasks import accepted_body, enqueue

    agent = get_agent(agent_id)
    record = enqueue(_tasks().test_agent, company_id=agent.company_id, agent_id=str(agent.id), query=query)
    return accepted_body(record, message="Agent test queued.", agent_id=str(agent.id))


def _initiator(actor: Principal | None) -> str | None:
    return str(actor.user_id) if actor is not None and actor.user_id else None
