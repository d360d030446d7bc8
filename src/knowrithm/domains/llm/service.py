"""LLM settings: which model answers for an agent (or a company) and which model embeds.

Services flush and leave the commit to the caller (a route, a task, or the agents service
creating settings in the same transaction as an agent). Keys are stored Fernet-encrypted
and only ever decrypted in `runtime.py` when an adapter is built.
"""
from __future__ import annotations

import uuid
from typing import Any, Callable

from flask import current_app
from sqlalchemy import select, text

from knowrithm.domains.agents.models import Agent
from knowrithm.domains.audit import service as audit
from knowrithm.domains.documents.models import DocumentChunk
from knowrithm.infra.auth import Principal
from knowrithm.infra.crypto import encrypt
from knowrithm.infra.db import db
from knowrithm.infra.errors import Conflict, NotFound, ValidationFailed
from knowrithm.infra.parsing import parse_uuid
from knowrithm.infra.tenancy import get_or_404

from .catalog import LOCAL_EMBEDDING_MODEL, LOCAL_LLM_MODEL, LOCAL_PROVIDER
from .models import LLMSettings, Provider, ProviderModel
from .resolve import find_provider, resolve_provider_model
from .runtime import embedder_for, embedding_model_key, runtime_for_settings  # noqa: F401  (this service's API)
from .schemas import settings_out  # noqa: F401  (part of this service's API)
from .seed import seed

# Plain columns a caller may set directly (keys and model references are handled apart).
PLAIN_FIELDS = ("llm_api_base_url", "llm_temperature", "llm_max_tokens", "llm_additional_params",
                "embedding_api_base_url", "embedding_dimension", "embedding_additional_params",
                "widget_script_url", "widget_config", "is_active")
NULLABLE_DICTS = ("llm_additional_params", "embedding_additional_params", "widget_config")


# Re-indexing an agent's knowledge is the documents domain's job, and documents depends on
# this domain (for the embedder), so it hands its queueing function over at start-up
# (`domains.init_domains`) instead of this module importing it (docs/architecture.md).
_queue_reembed: Callable[[Any], None] | None = None


def set_reembed_queue(queue: Callable[[Any], None]) -> None:
    global _queue_reembed
    _queue_reembed = queue


def _pick(fields: dict, prefix: str, current: tuple[Provider, ProviderModel] | None, model_type: str):
    """The (provider, model) a payload asks for: `*_id` fields win over names (the `/sdk/settings` overrides)."""
    provider = fields.get(f"{prefix}_provider_id") or fields.get(f"{prefix}_provider")
    model = fields.get(f"{prefix}_model_id") or fields.get(f"{prefix}_model")
    if provider in (None, "") and model in (None, ""):
        if current is None:
            raise ValidationFailed(f"{prefix}_provider and {prefix}_model are required",
                                   details={f"{prefix}_provider": ["required"], f"{prefix}_model": ["required"]})
        return current
    if model in (None, "") and current is not None:
        named = find_provider(provider)
        if named is not None and named.id == current[0].id:
            return current  # the current provider restated (SDKs send every id they know)
        raise ValidationFailed(f"Name the {prefix} model along with its provider",
                               details={f"{prefix}_model": ["required when the provider changes"]})
    if provider in (None, "") and current is not None and _looks_like_name(model):
        provider = current[0].id  # a new model name on an update stays with the current provider
    return resolve_provider_model(provider=provider, model=model, model_type=model_type, field=prefix)


def platform_default_key(provider: Provider) -> str | None:
    """Keys the operator configured for the whole platform (GEMINI_API_KEY for Gemini)."""
    if provider.adapter == "gemini":
        return current_app.config["SETTINGS"].GEMINI_API_KEY
    return None


def _check_access(provider: Provider, *, has_key: bool, base_url: str | None, field: str) -> None:
    if provider.requires_api_key and not has_key and not platform_default_key(provider):
        raise ValidationFailed(f"{provider.label} requires an API key: pass {field}_api_key",
                               code="MISSING_API_KEY", details={f"{field}_api_key": ["required for this provider"]})
    if provider.requires_base_url and not (base_url or provider.default_base_url):
        raise ValidationFailed(f"{provider.label} requires a base URL: pass {field}_api_base_url",
                               code="MISSING_BASE_URL",
                               details={f"{field}_api_base_url": ["required for this provider"]})


def normalise_fallbacks(entries, *, primary: tuple[Provider, ProviderModel], primary_has_key: bool) -> list[dict]:
    """Fallback models as stored: ids plus names, each entry's own key encrypted."""
    if entries in (None, ""):
        return []
    if not isinstance(entries, list):
        raise ValidationFailed("fallback_models must be a list", details={"fallback_models": ["must be a list"]})
    out = []
    for n, entry in enumerate(entries):
        if isinstance(entry, str):
            entry = {"model": entry}
        if not isinstance(entry, dict):
            raise ValidationFailed("Invalid fallback model",
                                   details={"fallback_models": [f"item {n}: an object or id"]})
        provider = entry.get("provider_id") or entry.get("provider")
        if provider in (None, "") and _looks_like_name(entry.get("model") or entry.get("model_id")):
            provider = primary[0].id  # a bare model name means "another model of the same provider"
        prov, model = resolve_provider_model(provider=provider, model=entry.get("model_id") or entry.get("model"),
                                             model_type="llm", field="fallback")
        key = entry.get("api_key_encrypted") or encrypt(entry.get("api_key"))
        same_provider = prov.id == primary[0].id
        _check_access(prov, has_key=bool(key) or (same_provider and primary_has_key),
                      base_url=entry.get("api_base_url"), field="fallback")
        item = {"provider_id": str(prov.id), "provider": prov.value, "model_id": str(model.id), "model": model.name}
        if entry.get("api_base_url"):
            item["api_base_url"] = entry["api_base_url"]
        if key:
            item["api_key_encrypted"] = key
        out.append(item)
    return out


def _looks_like_name(value) -> bool:
    try:
        uuid.UUID(str(value))
        return False
    except (ValueError, TypeError):
        return value not in (None, "")


def seal_secrets(fields: dict) -> dict:
    """The same fields with every API key encrypted, safe to pass through the task broker."""
    out = dict(fields)
    for prefix in ("llm", "embedding"):
        if out.get(f"{prefix}_api_key") is not None:
            out[f"{prefix}_api_key_encrypted"] = encrypt(out.pop(f"{prefix}_api_key")) or ""
    if isinstance(out.get("fallback_models"), list):
        out["fallback_models"] = [
            {k: v for k, v in e.items() if k != "api_key"} | ({"api_key_encrypted": encrypt(e["api_key"])}
                                                                if e.get("api_key") else {})
            if isinstance(e, dict) else e for e in out["fallback_models"]]
    return out


def _apply_fields(row: LLMSettings, fields: dict) -> None:
    for name in PLAIN_FIELDS:
        if name in fields and (fields[name] is not None or name.endswith("base_url") or name == "llm_max_tokens"):
            value = fields[name]
            if name in NULLABLE_DICTS and value is None:
                value = {}
            setattr(row, name, value)
    if "metadata" in fields and fields["metadata"] is not None:
        row.extra_metadata = fields["metadata"]
    for prefix in ("llm", "embedding"):
        sealed = fields.get(f"{prefix}_api_key_encrypted")
        key = fields.get(f"{prefix}_api_key")
        if sealed is not None:
            setattr(row, f"{prefix}_api_key_encrypted", sealed or None)
        elif key is not None:
            setattr(row, f"{prefix}_api_key_encrypted", encrypt(key) if key else None)


def _validate(row: LLMSettings) -> None:
    for prefix in ("llm", "embedding"):
        provider = getattr(row, f"{prefix}_provider")
        _check_access(provider, has_key=bool(getattr(row, f"{prefix}_api_key_encrypted")),
                      base_url=getattr(row, f"{prefix}_api_base_url"), field=prefix)
    if row.llm_temperature is not None and not 0 <= row.llm_temperature <= 2:
        raise ValidationFailed("llm_temperature must be between 0 and 2", details={"llm_temperature": ["0..2"]})
    if row.llm_max_tokens is not None and row.llm_max_tokens <= 0:
        raise ValidationFailed("llm_max_tokens must be positive", details={"llm_max_tokens": ["must be > 0"]})
    fixed = row.embedding_model.embedding_dimension
    if row.embedding_dimension is None:
        row.embedding_dimension = fixed
    elif row.embedding_dimension <= 0 or (fixed and row.embedding_dimension > fixed):
        raise ValidationFailed(f"embedding_dimension must be between 1 and {fixed or 'the model dimension'}",
                               details={"embedding_dimension": [f"at most {fixed}"]})


def _set_models(row: LLMSettings, llm: tuple, embedding: tuple) -> None:
    row.llm_provider, row.llm_model = llm
    row.llm_provider_id, row.llm_model_id = llm[0].id, llm[1].id
    if row.embedding_model_id is not None and row.embedding_model_id != embedding[1].id:
        row.embedding_dimension = None  # the new model brings its own dimension
    row.embedding_provider, row.embedding_model = embedding
    row.embedding_provider_id, row.embedding_model_id = embedding[0].id, embedding[1].id


def _lock_company(company_id) -> None:
    db.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"knowrithm.llm.default:{company_id}"})


def _make_default(row: LLMSettings) -> None:
    others = db.session.execute(
        select(LLMSettings).where(LLMSettings.company_id == row.company_id, LLMSettings.is_default.is_(True),
                                  LLMSettings.id != row.id)).scalars()
    for other in others:
        other.is_default = False
    row.is_default = True


def _company_default(company_id) -> LLMSettings | None:
    stmt = (select(LLMSettings).where(LLMSettings.company_id == company_id, LLMSettings.is_default.is_(True))
            .order_by(LLMSettings.created_at).execution_options(all_companies=True))
    return db.session.execute(stmt).scalars().first()


def create_settings(*, company_id, agent_id=None, is_default: bool | None = None, settings_id=None,
                    **fields: Any) -> LLMSettings:
    """New settings from ID-based (`llm_provider_id`...) or name-based (`llm_provider`...) fields.

    Without `agent_id` and without an existing company default, the new row becomes the
    default. With `agent_id`, the agent is pointed at the new settings.
    """
    company_id = parse_uuid(company_id, "company_id")
    agent = _load_agent(agent_id) if agent_id else None
    llm = _pick(fields, "llm", None, "llm")
    embedding = _pick(fields, "embedding", None, "embedding")
    row = LLMSettings(id=parse_uuid(settings_id, "settings_id") if settings_id else uuid.uuid4(),
                      company_id=company_id, agent_id=agent.id if agent else None,
                      llm_temperature=0.5, llm_additional_params={}, embedding_additional_params={},
                      widget_config={}, extra_metadata={}, fallback_models=[], is_active=True, is_default=False)
    _set_models(row, llm, embedding)
    _apply_fields(row, fields)
    _validate(row)
    row.fallback_models = normalise_fallbacks(fields.get("fallback_models"), primary=llm,
                                              primary_has_key=bool(row.llm_api_key_encrypted))
    _lock_company(company_id)
    if is_default is None:
        is_default = agent is None and _company_default(company_id) is None
    db.session.add(row)
    db.session.flush()
    if is_default:
        _make_default(row)
    if agent is not None:
        _link_agent(agent, row)
    db.session.flush()
    return row


def dry_run(fn, *args, **kwargs) -> None:
    """Runs a creation in a savepoint and rolls it back: its 400/409s at once, before queueing."""
    queued = list(db.session.info.get("knowrithm_pending_tasks", []))
    savepoint = db.session.begin_nested()
    try:
        fn(*args, **kwargs)
    finally:
        savepoint.rollback()
        # Tasks queued inside the dry run (re-embeds) must not be sent by the next commit.
        db.session.info["knowrithm_pending_tasks"] = queued


def check_settings(*, company_id, **fields: Any) -> None:
    dry_run(create_settings, company_id=company_id, **fields)


def update_settings(row: LLMSettings, **fields: Any) -> tuple[LLMSettings, bool]:
    """Partial update; returns (row, embedding_changed)."""
    before = row.embedding_model_id
    llm = _pick(fields, "llm", (row.llm_provider, row.llm_model), "llm")
    embedding = _pick(fields, "embedding", (row.embedding_provider, row.embedding_model), "embedding")
    # A key is only ever valid for the vendor it was given for.
    if llm[0].id != row.llm_provider_id and fields.get("llm_api_key") is None:
        row.llm_api_key_encrypted = None
    if embedding[0].id != row.embedding_provider_id and fields.get("embedding_api_key") is None:
        row.embedding_api_key_encrypted = None
    _set_models(row, llm, embedding)
    _apply_fields(row, fields)
    _validate(row)
    if "fallback_models" in fields and fields["fallback_models"] is not None:
        row.fallback_models = normalise_fallbacks(fields["fallback_models"], primary=llm,
                                                  primary_has_key=bool(row.llm_api_key_encrypted))
    if fields.get("agent_id"):
        agent = _load_agent(fields["agent_id"])
        row.agent_id = agent.id
        _link_agent(agent, row)
    if fields.get("is_default") is True:
        _lock_company(row.company_id)
        _make_default(row)
    elif fields.get("is_default") is False and row.is_default:
        raise ValidationFailed("Make another settings record the company default instead",
                               details={"is_default": ["the company always keeps one default"]})
    db.session.flush()
    return row, before != row.embedding_model_id


def default_settings(company_id) -> LLMSettings:
    """The company default; a fresh company gets one on the offline Knowrithm Local models."""
    company_id = parse_uuid(company_id, "company_id")
    row = _company_default(company_id)
    if row is not None:
        return row
    _lock_company(company_id)
    row = _company_default(company_id)
    if row is not None:
        return row
    provider = _local_provider()
    llm = resolve_provider_model(provider=provider.id, model=LOCAL_LLM_MODEL, model_type="llm")
    embedding = resolve_provider_model(provider=provider.id, model=LOCAL_EMBEDDING_MODEL, model_type="embedding")
    row = LLMSettings(id=uuid.uuid4(), company_id=company_id, llm_temperature=0.5, llm_additional_params={},
                      embedding_additional_params={}, widget_config={}, extra_metadata={"created_by": "platform"},
                      fallback_models=[], is_active=True, is_default=True)
    _set_models(row, llm, embedding)
    row.embedding_dimension = embedding[1].embedding_dimension
    db.session.add(row)
    db.session.flush()
    return row


def _local_provider() -> Provider:
    stmt = select(Provider).where(Provider.company_id.is_(None), Provider.value == LOCAL_PROVIDER)
    provider = db.session.execute(stmt).scalars().first()
    if provider is None:
        seed(commit=False)
        provider = db.session.execute(stmt).scalars().first()
    return provider


def _load_agent(agent_id):
    return get_or_404(Agent, agent_id, what="Agent")


def _link_agent(agent, row: LLMSettings) -> None:
    """Points the agent at the settings; re-embedding is the caller's step (`reembed_stale_agents`)."""
    agent.llm_settings_id = row.id


def agents_using(row: LLMSettings) -> list:
    return list(db.session.execute(select(Agent).where(Agent.llm_settings_id == row.id)).scalars())


def _has_chunks(agent) -> bool:
    return db.session.execute(select(DocumentChunk.id).where(DocumentChunk.agent_id == agent.id).limit(1)) \
        .first() is not None


def reembed_stale_agents(row: LLMSettings) -> list[str]:
    """Agents answering with `row` whose knowledge was indexed with another embedding model.

    Agents with indexed chunks get `reembed_status = "pending"` and a re-embed task (sent after
    commit); agents with nothing indexed simply adopt the new model. Returns the queued ids.
    """
    if _queue_reembed is None:
        raise RuntimeError("no re-embedding queue registered (domains.init_domains was not run)")
    key = embedding_model_key(row)
    queued = []
    for agent in agents_using(row):
        if agent.active_embedding_model == key:
            continue
        if not _has_chunks(agent):
            agent.active_embedding_model = key
            continue
        agent.reembed_status = "pending"
        _queue_reembed(agent)
        queued.append(str(agent.id))
    return queued


def save_settings(settings_id, fields: dict, *, actor: Principal) -> tuple[LLMSettings, list[str]]:
    """`PUT /settings/<id>`: the change, re-embedding queued where the model changed, audit, commit."""
    row = get_or_404(LLMSettings, settings_id, what="Settings")
    row, embedding_changed = update_settings(row, **fields)
    flagged = reembed_stale_agents(row) if embedding_changed else []
    audit.record("settings.updated", actor=actor, entity_type="llm_settings", entity_id=row.id,
                 details={"fields": sorted(k for k in fields if not k.endswith("api_key")), "reembed_agents": flagged})
    db.session.commit()
    return row, flagged


def create_settings_once(*, settings_id, company_id, fields: dict, actor: Principal | None) -> LLMSettings:
    """The queued creation: the row with the pre-generated id (a redelivered task finds it),
    re-embedding queued where an agent's model changes, audit, commit."""
    row = db.session.get(LLMSettings, settings_id)
    if row is not None:
        return row
    row = create_settings(company_id=company_id, settings_id=settings_id, **fields)
    reembed_stale_agents(row)
    audit.record("settings.created", actor=actor, company_id=row.company_id, entity_type="llm_settings",
                 entity_id=row.id,
                 details={"llm_model": row.llm_model.name, "embedding_model": row.embedding_model.name})
    db.session.commit()
    return row


def remove_settings(settings_id, *, actor: Principal) -> LLMSettings:
    row = get_or_404(LLMSettings, settings_id, what="Settings")
    delete_settings(row)
    audit.record("settings.deleted", actor=actor, entity_type="llm_settings", entity_id=row.id)
    db.session.commit()
    return row


def delete_settings(row: LLMSettings) -> None:
    if row.is_default:
        raise Conflict("The company default settings cannot be deleted; make another record the default first",
                       code="SETTINGS_IS_DEFAULT")
    users = agents_using(row)
    if users:
        names = ", ".join(a.name for a in users[:5])
        raise Conflict(f"These settings are still used by {len(users)} agent(s): {names}", code="SETTINGS_IN_USE",
                       details={"agents": [str(a.id) for a in users]})
    row.soft_delete()
    db.session.flush()


def settings_for_agent(agent_id) -> LLMSettings:
    """The settings an agent answers with (its own link, else settings created for it)."""
    agent = _load_agent(agent_id)
    if agent.llm_settings_id:
        row = db.session.get(LLMSettings, agent.llm_settings_id)
        if row is not None and row.deleted_at is None:
            return row
    row = db.session.execute(select(LLMSettings).where(LLMSettings.agent_id == agent.id)
                             .order_by(LLMSettings.created_at.desc())).scalars().first()
    if row is None:
        raise NotFound("This agent has no LLM settings")
    return row


def list_company_settings(company_id, *, all_companies: bool = False) -> list[LLMSettings]:
    """`all_companies` lets a super admin read a company other than the one in scope."""
    stmt = (select(LLMSettings).where(LLMSettings.company_id == parse_uuid(company_id, "company_id"))
            .order_by(LLMSettings.is_default.desc(), LLMSettings.created_at)
            .execution_options(all_companies=all_companies))
    return list(db.session.execute(stmt).scalars())
