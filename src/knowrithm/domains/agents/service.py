"""Agent lifecycle: create with LLM settings, list, find, update, soft delete/restore, stats.

Every function takes explicit keyword inputs (company, actor, validated fields) so routes,
the `/sdk` synchronous twins and Celery tasks share it. Queries rely on the tenancy filter:
a row of another company is simply not found.
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import bindparam, case, func, literal, or_, select, union_all

from knowrithm.domains.audit import service as audit
from knowrithm.domains.conversations.models import Conversation, Message
from knowrithm.domains.databases.models import DatabaseConnection
from knowrithm.domains.documents.models import Document, DocumentChunk
from knowrithm.domains.llm import service as llm
from knowrithm.domains.llm.models import LLMSettings, ProviderModel
from knowrithm.domains.widget import embed
from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db
from knowrithm.infra.errors import NotFound, ValidationFailed
from knowrithm.infra.read_cache import ReadCache
from knowrithm.infra.pagination import MAX_PER_PAGE, page_meta
from knowrithm.infra.tasks import TaskRecord, enqueue
from knowrithm.infra.tenancy import current_company_id, get_or_404

from . import tasks
from .models import Agent
from .schemas import AGENT_FIELDS, SETTINGS_FIELDS, AgentCreate, AgentUpdate, SettingsBrief, agent_out

# Keys of a nested settings object that never reach the settings service.
_NOT_SETTINGS = {"company_id", "agent_id", "id"}


# --- reading --------------------------------------------------------------------------

def settings_of(agent: Agent) -> LLMSettings | None:
    if agent.llm_settings_id is None:
        return None
    return db.session.execute(select(LLMSettings).where(LLMSettings.id == agent.llm_settings_id)).scalar_one_or_none()


def _counts_statement():
    """Conversation, message, document and database figures per agent: four grouped counts in
    one statement (UNION ALL; infra.tenancy scopes each part). Built once: only the ids vary."""
    ids = bindparam("agent_ids", expanding=True)
    up = func.count(case((Message.user_feedback > 0, 1)))
    parts = [
        select(literal(0), Conversation.agent_id, func.count(Conversation.id),
               func.coalesce(func.sum(Conversation.lead_satisfaction), 0), func.count(Conversation.lead_satisfaction))
        .where(Conversation.agent_id.in_(ids)).group_by(Conversation.agent_id),
        select(literal(1), Conversation.agent_id, func.count(Message.id), up, func.count(Message.user_feedback))
        .join(Message, Message.conversation_id == Conversation.id)
        .where(Conversation.agent_id.in_(ids)).group_by(Conversation.agent_id),
    ]
    for kind, model in ((2, Document), (3, DatabaseConnection)):
        parts.append(select(literal(kind), model.agent_id, func.count(model.id), literal(0), literal(0))
                     .where(model.agent_id.in_(ids)).group_by(model.agent_id))
    return union_all(*parts)


_COUNTS = _counts_statement()


def counts_for(agent_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict]:
    """Conversation, message, document and database figures per agent, in one round trip."""
    out: dict[uuid.UUID, dict] = {a: {"conversations": 0, "messages": 0, "documents": 0, "databases": 0,
                                      "rating": 0.0} for a in agent_ids}
    if not agent_ids:
        return out
    ratings, thumbs = {}, {}
    for kind, agent_id, n, a, b in db.session.execute(_COUNTS, {"agent_ids": agent_ids}):
        if kind == 0:
            out[agent_id]["conversations"] = n
            ratings[agent_id] = (float(a), b)
        elif kind == 1:
            out[agent_id]["messages"] = n
            thumbs[agent_id] = (int(a), b)
        else:
            out[agent_id]["documents" if kind == 2 else "databases"] = n
    for agent_id in agent_ids:
        liked, given = thumbs.get(agent_id, (0, 0))
        out[agent_id]["rating"] = feedback_rating(*ratings.get(agent_id, (0.0, 0)), liked=liked, thumbs=given)
    return out


def feedback_rating(stars: float, rated: int, *, liked: int, thumbs: int) -> float:
    """An agent's rating on the 1-5 scale from the feedback it received: the visitors' 1-5
    conversation ratings and its replies' thumbs (up counts 5, down counts 1), averaged:

        rating = (sum of conversation ratings + 5 * thumbs up + 1 * thumbs down) / (ratings + thumbs)

    0.0 while it has received no feedback at all."""
    total = rated + thumbs
    return round((stars + 5 * liked + (thumbs - liked)) / total, 2) if total else 0.0


def serialise(agent: Agent, settings: LLMSettings | SettingsBrief | None = None, counts: dict | None = None) -> dict:
    settings = settings if settings is not None else settings_of(agent)
    if isinstance(settings, LLMSettings):
        settings = SettingsBrief.of(settings)
    counts = counts if counts is not None else counts_for([agent.id])[agent.id]
    code = embed.simple_snippet(agent, settings) if settings is not None else None
    return agent_out(agent, settings=settings, counts=counts, embed_code=code)


# The agent list is the console's and the SDK's landing read. A page is served from memory until
# one of the tables it shows is written anywhere in the cluster (infra/read_cache.py); the key
# is the company scope the tenancy filter applies and the query.
_LISTS = ReadCache("agents.list", [Agent, LLMSettings, ProviderModel, Conversation, Message, Document,
                                   DatabaseConnection])


def list_agents(*, status: str | None = None, search: str | None = None, page: int = 1,
                per_page: int = 10) -> dict:
    """Callers must not change the answer: it may be shared with other requests."""
    per_page = min(per_page, MAX_PER_PAGE)
    return _LISTS.get((current_company_id(), status, search, page, per_page),
                      lambda: _list_agents(status, search, page, per_page))


def _list_agents(status: str | None, search: str | None, page: int, per_page: int) -> dict:
    stmt = select(Agent)
    if status:
        stmt = stmt.where(Agent.status == status)
    if search and search.strip():
        pattern = f"%{_escape_like(search.strip())}%"
        stmt = stmt.where(or_(Agent.name.ilike(pattern, escape="\\"), Agent.description.ilike(pattern, escape="\\")))
    # The page, the settings fields it shows and the total in one statement; only a page past
    # the end needs the count alone (a page whose offset no bigint holds is past any end).
    offset = (page - 1) * per_page
    rows = db.session.execute(
        stmt.add_columns(LLMSettings.id, ProviderModel.name, LLMSettings.llm_temperature, LLMSettings.llm_max_tokens,
                         LLMSettings.widget_script_url, func.count().over())
        .outerjoin(LLMSettings, LLMSettings.id == Agent.llm_settings_id)
        .outerjoin(ProviderModel, ProviderModel.id == LLMSettings.llm_model_id)
        .order_by(Agent.created_at.desc(), Agent.id).offset(offset).limit(per_page)).all() if offset < 2 ** 63 else []
    total = rows[0][-1] if rows else db.session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    counts = counts_for([row[0].id for row in rows])
    items = []
    for agent, settings_id, *brief, _ in rows:
        settings = SettingsBrief(*brief) if settings_id is not None else None
        code = embed.simple_snippet(agent, settings) if settings is not None else None
        items.append(agent_out(agent, settings=settings, counts=counts[agent.id], embed_code=code))
    pagination = page_meta(page, per_page, total)
    # `data` is the alias the CLI's name resolver falls back to (docs/api-compatibility.md).
    return {"agents": items, "data": items, "pagination": pagination, "total": total}


def agent_by_name(name: str) -> dict:
    """The oldest agent of that name (case-insensitive), as the SDK's name lookup expects it."""
    agent = db.session.execute(
        select(Agent).where(func.lower(Agent.name) == name.strip().lower())
        .order_by(Agent.created_at, Agent.id).limit(1)).scalar_one_or_none()
    if agent is None:
        raise NotFound(f"Agent '{name}' not found", code="AGENT_NOT_FOUND")
    return {"agent": serialise(agent)}


def get_agent(agent_id, *, include_deleted: bool = False) -> Agent:
    return get_or_404(Agent, agent_id, include_deleted=include_deleted, what="Agent")


def embed_code(agent_id) -> dict:
    agent = get_agent(agent_id)
    return embed.embed_code(agent, settings_of(agent))


def stats(agent_id) -> dict:
    agent = get_agent(agent_id)
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
    """Which settings a create body names: nested settings win, then flat ids, then `llm_settings_id`, then the company default.

    The agent must already be flushed: the settings service links it to settings it creates.
    """
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
    """A settings object on update. The agent's own settings are updated in place (keys kept);
    shared settings (the company default) are left alone and the agent gets its own copy."""
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
    agent.active_embedding_model = llm.embedding_model_key(settings)
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
    if not llm.agents_using(old):
        old.soft_delete()


def refresh_embedding_model(agent: Agent) -> None:
    """Keeps `active_embedding_model` true to the chunks after a settings change: the settings
    service adopts the new model at once when nothing is indexed, otherwise it marks the agent
    `reembed_status = "pending"` and queues the documents domain's re-embed task (after commit)."""
    settings = settings_of(agent)
    if settings is not None and agent.active_embedding_model != llm.embedding_model_key(settings):
        db.session.flush()  # the settings service finds the agent by its (new) settings link
        llm.reembed_stale_agents(settings)


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

def create_and_confirm(*, company_id: uuid.UUID, actor: Principal | None,
                       body: AgentCreate) -> tuple[TaskRecord, Agent]:
    agent, _ = create_agent(company_id=company_id, actor=actor, body=body)
    record = enqueue(tasks.confirm_agent, company_id=company_id, agent_id=str(agent.id),
                     message="Agent created successfully")
    return record, agent


def update_and_report(agent_id, *, actor: Principal | None, body: AgentUpdate,
                      sync: bool) -> tuple[TaskRecord | None, Agent]:
    """Synchronous (`/sdk`): (None, the agent) once committed; else (the confirming task, the agent)."""
    agent = update_agent(get_agent(agent_id), actor=actor, body=body)
    if sync:
        db.session.commit()
        return None, agent
    record = enqueue(tasks.confirm_agent, company_id=agent.company_id, agent_id=str(agent.id),
                     message="Agent updated successfully", with_settings=False)
    return record, agent


def delete(agent_id, *, actor: Principal | None, sync: bool) -> tuple[TaskRecord | None, Agent]:
    """Synchronous (`/sdk`): (None, the agent) once deleted; else (the deleting task, the agent)."""
    agent = get_agent(agent_id)
    ensure_deletable(agent)  # the 400 comes now, not as a failed task
    if sync:
        delete_agent(agent, actor=actor)
        db.session.commit()
        return None, agent
    record = enqueue(tasks.delete_agent, company_id=agent.company_id, agent_id=str(agent.id),
                     actor=audit.actor_ref(actor))
    return record, agent


def queue_restore(agent_id, *, actor: Principal | None) -> tuple[TaskRecord, Agent]:
    agent = get_agent(agent_id, include_deleted=True)
    record = enqueue(tasks.restore_agent, company_id=agent.company_id, agent_id=str(agent.id),
                     actor=audit.actor_ref(actor))
    return record, agent


def queue_clone(agent_id, *, actor: Principal | None, name: str | None, description: str | None,
                llm_settings_id: str | None) -> tuple[TaskRecord, str]:
    """(the task, the id the clone will have)."""
    agent = get_agent(agent_id)
    if llm_settings_id:
        company_settings(llm_settings_id)  # a bad id is a 400 now
    new_id = str(uuid.uuid4())  # chosen here so a re-run of the task finds its own clone
    record = enqueue(tasks.clone_agent, company_id=agent.company_id, source_id=str(agent.id), new_id=new_id,
                     name=name, description=description, llm_settings_id=llm_settings_id,
                     actor=audit.actor_ref(actor))
    return record, new_id


def queue_test(agent_id, *, query: str | None) -> tuple[TaskRecord, Agent]:
    agent = get_agent(agent_id)
    record = enqueue(tasks.test_agent, company_id=agent.company_id, agent_id=str(agent.id), query=query)
    return record, agent


def initiator(actor: Principal | None) -> str | None:
    return str(actor.user_id) if actor is not None and actor.user_id else None
