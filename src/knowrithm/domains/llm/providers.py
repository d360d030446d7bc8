"""Custom providers and models: rows a company adds next to the platform catalog.

Platform rows (company_id NULL) are read-only except for a super admin; a company's rows
are visible to that company only (the tenancy filter), so another company gets 404.
"""
from __future__ import annotations

import re
import uuid

from sqlalchemy import func, or_, select

from knowrithm.domains.audit import service as audit
from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db
from knowrithm.infra.errors import Conflict, Forbidden, NotFound, ValidationFailed
from knowrithm.infra.parsing import validation_details
from knowrithm.infra.tenancy import get_or_404

from .models import LLMSettings, Provider, ProviderModel
from .schemas import ModelIn, ProviderIn

ADAPTERS = ("openai", "openai_compatible", "gemini", "anthropic", "local", "extractive")
PROVIDER_TYPES = ("llm", "embedding", "both")
MODEL_TYPES = {"llm": "llm", "chat": "llm", "completion": "llm", "embedding": "embedding", "embeddings": "embedding"}
STATUSES = ("active", "inactive", "deprecated")
PRICING_TIERS = ("free", "budget", "mid", "premium", "variable")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")[:80] or "provider"


def _choice(value, allowed, field: str, mapping: dict | None = None):
    key = str(value).strip().lower()
    if mapping is not None:
        if key in mapping:
            return mapping[key]
    elif key in allowed:
        return key
    raise ValidationFailed(f"Invalid {field} '{value}'; expected one of: {', '.join(allowed)}",
                           details={field: [f"one of: {', '.join(allowed)}"]})


def _writable(row, *, is_super_admin: bool, what: str) -> None:
    if row.company_id is None and not is_super_admin:
        raise Forbidden(f"Platform catalog {what}s are read-only; create a custom {what} instead",
                        code="CATALOG_READ_ONLY")


# --- providers --------------------------------------------------------------------------

def provider_values(fields: dict, *, creating: bool) -> dict:
    """Maps the SDK's write payload (`name`, `type`, `api_base_url`) onto provider columns."""
    values: dict = {}
    name = fields.get("label") or fields.get("name")
    if name is not None:
        values["label"] = name.strip()
    value = fields.get("value") or (fields.get("name") if creating else None)
    if value is not None:
        values["value"] = _slug(value)
    if creating and not name:
        raise ValidationFailed("name is required", details={"name": ["required"]})
    ptype = fields.get("provider_type") or fields.get("type")
    if ptype is not None:
        values["provider_type"] = _choice(ptype, PROVIDER_TYPES, "type")
    elif creating:
        raise ValidationFailed("type is required (llm, embedding or both)", details={"type": ["required"]})
    if fields.get("adapter") is not None:
        values["adapter"] = _choice(fields["adapter"], ADAPTERS, "adapter")
    base_url = fields.get("default_base_url") or fields.get("api_base_url")
    if base_url is not None:
        values["default_base_url"] = base_url or None
    if fields.get("status") is not None:
        values["status"] = _choice(fields["status"], STATUSES, "status")
    if fields.get("pricing_tier") is not None:
        values["pricing_tier"] = _choice(fields["pricing_tier"], PRICING_TIERS, "pricing_tier")
    if fields.get("pricing") is not None:
        values["pricing"] = fields["pricing"]
        tier = fields["pricing"].get("tier") if isinstance(fields["pricing"], dict) else None
        if tier and "pricing_tier" not in values:
            values["pricing_tier"] = _choice(tier, PRICING_TIERS, "pricing.tier")
    for key in ("description", "documentation_url", "logo_url", "requires_api_key", "requires_base_url",
                "is_featured", "tags"):
        if fields.get(key) is not None:
            values[key] = fields[key]
    return values


def _unique_value(value: str, company_id, exclude=None) -> None:
    stmt = select(Provider.id).where(Provider.company_id == company_id, Provider.value == value)
    if exclude is not None:
        stmt = stmt.where(Provider.id != exclude)
    if db.session.execute(stmt).first():
        raise Conflict(f"A provider named '{value}' already exists", code="PROVIDER_EXISTS",
                       details={"name": ["already exists"]})


def create_provider(*, company_id, provider_id=None, **fields) -> Provider:
    values = provider_values(fields, creating=True)
    values.setdefault("adapter", "openai_compatible")
    # A custom OpenAI-compatible endpoint is usually self-hosted: a key is optional, a URL is not.
    values.setdefault("requires_api_key", values["adapter"] not in ("openai_compatible", "local", "extractive"))
    values.setdefault("requires_base_url", values["adapter"] == "openai_compatible")
    values.setdefault("pricing_tier", "variable")
    _unique_value(values["value"], company_id)
    row = Provider(id=uuid.UUID(str(provider_id)) if provider_id else uuid.uuid4(), company_id=company_id,
                   **{"status": "active", "tags": [], "pricing": {}, **values})
    db.session.add(row)
    db.session.flush()
    return row


def update_provider(row: Provider, *, is_super_admin: bool = False, **fields) -> Provider:
    _writable(row, is_super_admin=is_super_admin, what="provider")
    values = provider_values(fields, creating=False)
    if "value" in values and values["value"] != row.value:
        _unique_value(values["value"], row.company_id, exclude=row.id)
    if values.get("provider_type") and values["provider_type"] != "both":
        wrong = [m.name for m in live_models(row) if m.model_type != values["provider_type"]]
        if wrong:
            raise ValidationFailed(f"The provider still has models of another type: {', '.join(wrong)}",
                                   details={"type": ["conflicts with existing models"]})
    for key, value in values.items():
        setattr(row, key, value)
    db.session.flush()
    return row


def delete_provider(row: Provider, *, is_super_admin: bool = False) -> int:
    """Soft-deletes the provider and disables its models; 409 while settings use it."""
    _writable(row, is_super_admin=is_super_admin, what="provider")
    used = db.session.execute(select(func.count()).select_from(LLMSettings).where(
        or_(LLMSettings.llm_provider_id == row.id, LLMSettings.embedding_provider_id == row.id))
        .execution_options(all_companies=row.company_id is None)).scalar()
    if used:
        raise Conflict(f"The provider is used by {used} settings record(s)", code="PROVIDER_IN_USE")
    models = live_models(row)
    for model in models:
        model.status = "inactive"
        model.soft_delete()
    row.status = "inactive"
    row.soft_delete()
    db.session.flush()
    return len(models)


def list_providers(*, type: str | None = None, status: str | None = None) -> list[Provider]:
    stmt = select(Provider).order_by(Provider.is_featured.desc(), Provider.label)
    if type:
        ptype = _choice(type, PROVIDER_TYPES, "type")
        stmt = stmt.where(Provider.provider_type.in_((ptype, "both")) if ptype != "both"
                          else Provider.provider_type == "both")
    stmt = stmt.where(Provider.status == (_choice(status, STATUSES, "status") if status else "active"))
    return list(db.session.execute(stmt).scalars())


def live_models(provider: Provider, *, model_type: str | None = None, status: str | None = None) -> list[ProviderModel]:
    stmt = select(ProviderModel).where(ProviderModel.provider_id == provider.id).order_by(ProviderModel.name)
    if model_type:
        stmt = stmt.where(ProviderModel.model_type == _choice(model_type, tuple(MODEL_TYPES), "type", MODEL_TYPES))
    if status:
        stmt = stmt.where(ProviderModel.status == _choice(status, STATUSES, "status"))
    return list(db.session.execute(stmt).scalars())


def get_provider(provider_id) -> Provider:
    return get_or_404(Provider, provider_id, what="Provider")


# --- models -----------------------------------------------------------------------------

def model_values(provider: Provider, fields: dict, *, creating: bool, current: ProviderModel | None = None) -> dict:
    values: dict = {}
    if fields.get("name") is not None:
        values["name"] = fields["name"].strip()
    elif creating:
        raise ValidationFailed("name is required", details={"name": ["required"]})
    mtype = fields.get("model_type") or fields.get("type")
    if mtype is not None:
        values["model_type"] = _choice(mtype, tuple(MODEL_TYPES), "type", MODEL_TYPES)
    elif creating:
        raise ValidationFailed("type is required (llm or embedding)", details={"type": ["required"]})
    if fields.get("status") is not None:
        values["status"] = _choice(fields["status"], STATUSES, "status")
    for key in ("display_name", "provider_model_id", "context_window", "embedding_dimension", "input_price",
                "output_price", "currency", "description", "is_deprecated", "is_recommended",
                "supports_streaming", "supports_function_calling", "supports_vision", "tags"):
        if fields.get(key) is not None:
            values[key] = fields[key]
    mtype = values.get("model_type") or (current.model_type if current else None)
    if provider.provider_type not in (mtype, "both"):
        raise ValidationFailed(f"Provider '{provider.label}' only offers {provider.provider_type} models",
                               code="WRONG_MODEL_TYPE", details={"type": [f"must be {provider.provider_type}"]})
    dimension = values.get("embedding_dimension") or (current.embedding_dimension if current else None)
    if mtype == "embedding" and not dimension:
        raise ValidationFailed("Embedding models need embedding_dimension",
                               details={"embedding_dimension": ["required for embedding models"]})
    return values


def _unique_model(provider: Provider, name: str, exclude=None) -> None:
    # Own rows and the platform's: a custom model must not shadow a catalog model.
    stmt = select(ProviderModel.id).where(ProviderModel.provider_id == provider.id,
                                          func.lower(ProviderModel.name) == name.lower())
    if exclude is not None:
        stmt = stmt.where(ProviderModel.id != exclude)
    if db.session.execute(stmt).first():
        raise Conflict(f"Provider '{provider.label}' already has a model named '{name}'", code="MODEL_EXISTS",
                       details={"name": ["already exists"]})


def create_model(provider: Provider, *, company_id, model_id=None, **fields) -> ProviderModel:
    values = model_values(provider, fields, creating=True)
    _unique_model(provider, values["name"])
    row = ProviderModel(id=uuid.UUID(str(model_id)) if model_id else uuid.uuid4(), provider_id=provider.id,
                        company_id=company_id, **{"status": "active", "currency": "USD", "tags": [], **values})
    db.session.add(row)
    db.session.flush()
    return row


# --- reads the routes answer with ----------------------------------------------------------

def providers_with_models(*, type: str | None, status: str | None,
                          include_models: bool) -> list[tuple[Provider, list[ProviderModel] | None]]:
    return [(p, live_models(p) if include_models else None) for p in list_providers(type=type, status=status)]


def provider_with_models(provider_id, *, include_models: bool) -> tuple[Provider, list[ProviderModel] | None]:
    provider = get_provider(provider_id)
    return provider, live_models(provider) if include_models else None


def models_of(provider_id, *, model_type: str | None, status: str | None) -> tuple[Provider, list[ProviderModel]]:
    provider = get_provider(provider_id)
    return provider, live_models(provider, model_type=model_type, status=status)


def find_model(provider_id, model_id) -> ProviderModel:
    return get_model(get_provider(provider_id), model_id)


def get_model(provider: Provider, model_id) -> ProviderModel:
    row = get_or_404(ProviderModel, model_id, what="Model")
    if row.provider_id != provider.id:
        raise NotFound("Model not found")
    return row


def _settings_using(model: ProviderModel) -> int:
    stmt = select(func.count()).select_from(LLMSettings).where(
        or_(LLMSettings.llm_model_id == model.id, LLMSettings.embedding_model_id == model.id))
    return db.session.execute(stmt.execution_options(all_companies=model.company_id is None)).scalar()


def update_model(provider: Provider, row: ProviderModel, *, is_super_admin: bool = False, **fields) -> ProviderModel:
    _writable(row, is_super_admin=is_super_admin, what="model")
    values = model_values(provider, fields, creating=False, current=row)
    if "name" in values and values["name"].lower() != row.name.lower():
        _unique_model(provider, values["name"], exclude=row.id)
    if "model_type" in values and values["model_type"] != row.model_type and _settings_using(row):
        raise Conflict("The model type cannot change while settings use the model", code="MODEL_IN_USE")
    for key, value in values.items():
        setattr(row, key, value)
    db.session.flush()
    return row


def delete_model(row: ProviderModel, *, is_super_admin: bool = False) -> None:
    _writable(row, is_super_admin=is_super_admin, what="model")
    used = _settings_using(row)
    if used:
        raise Conflict(f"The model is used by {used} settings record(s)", code="MODEL_IN_USE")
    row.status = "inactive"
    row.soft_delete()
    db.session.flush()


# --- bulk import ------------------------------------------------------------------------

def import_items(payload) -> list[dict]:
    """The provider entries of a bulk-import payload (`providers` list, one provider, or a list)."""
    if isinstance(payload, dict):
        items = payload.get("providers", payload.get("items"))
        if items is None and (payload.get("name") or payload.get("value")):
            items = [payload]
    else:
        items = payload
    if not isinstance(items, list) or not items:
        raise ValidationFailed("Send providers to import: {\"providers\": [{\"name\", \"type\", \"models\": [...]}]}",
                               details={"providers": ["a non-empty list is required"]})
    if len(items) > 200:
        raise ValidationFailed("At most 200 providers per import", details={"providers": ["at most 200"]})
    return items


def bulk_import(payload, *, company_id) -> dict:
    """Upserts each provider (by name) and its models; one item's error does not stop the rest."""
    result = {"providers_created": 0, "providers_updated": 0, "models_created": 0, "models_updated": 0,
              "errors": [], "providers": []}
    for index, item in enumerate(import_items(payload)):
        name = (item.get("label") or item.get("name") or item.get("value")) if isinstance(item, dict) else None
        counts = dict.fromkeys(("providers_created", "providers_updated", "models_created", "models_updated"), 0)
        try:
            with db.session.begin_nested():
                if not isinstance(item, dict):
                    raise ValidationFailed("each provider must be an object")
                provider, created = _upsert_provider(_clean(ProviderIn, item, "provider"), company_id)
                counts["providers_created" if created else "providers_updated"] += 1
                models = item.get("models") or []
                if not isinstance(models, list):
                    raise ValidationFailed("models must be a list", details={"models": ["must be a list"]})
                for m_index, raw in enumerate(models):
                    model = _clean(ModelIn, raw, f"model {m_index}")
                    existing = _own_model(provider, model.get("name"))
                    if existing is None:
                        create_model(provider, company_id=company_id, **model)
                        counts["models_created"] += 1
                    else:
                        update_model(provider, existing, **model)
                        counts["models_updated"] += 1
            # Counted only once the item's savepoint has committed.
            for key, value in counts.items():
                result[key] += value
            result["providers"].append({"id": str(provider.id), "value": provider.value,
                                        "label": provider.label, "created": created})
        except (ValidationFailed, Conflict, Forbidden) as exc:
            result["errors"].append({"index": index, "name": name, "error": exc.message,
                                     "code": exc.code, "details": exc.details})
    return result


def _clean(schema, raw, what: str) -> dict:
    """An import item through the same schema as the single-item routes (declared fields only)."""
    from pydantic import ValidationError


    if not isinstance(raw, dict):
        raise ValidationFailed(f"{what} must be an object")
    try:
        return schema.model_validate(raw).fields()
    except ValidationError as exc:
        raise ValidationFailed(f"Invalid {what}", details=validation_details(exc)) from None


def _upsert_provider(item: dict, company_id) -> tuple[Provider, bool]:
    raw = item.get("value") or item.get("name") or item.get("label")
    if not raw:
        raise ValidationFailed("name is required", details={"name": ["required"]})
    existing = db.session.execute(select(Provider).where(Provider.company_id == company_id,
                                                         Provider.value == _slug(raw))).scalar_one_or_none()
    fields = dict(item)
    if existing is None:
        # Importing models "for OpenAI" adds them to the catalog provider rather than creating a
        # company copy that would shadow it (and lack its adapter and base URL).
        platform = db.session.execute(select(Provider).where(
            Provider.company_id.is_(None),
            or_(Provider.value == _slug(raw), func.lower(Provider.label) == str(raw).strip().lower()))
        ).scalars().first()
        if platform is not None:
            return platform, False
        return create_provider(company_id=company_id, **fields), True
    fields.pop("value", None)
    return update_provider(existing, **fields), False


def _own_model(provider: Provider, name) -> ProviderModel | None:
    if not name:
        return None
    stmt = select(ProviderModel).where(ProviderModel.provider_id == provider.id,
                                       func.lower(ProviderModel.name) == str(name).strip().lower())
    return db.session.execute(stmt).scalars().first()


# --- the synchronous API writes: change, audit, commit (docs/architecture.md) -------------------

def create_provider_once(*, provider_id, owner_id, fields: dict, actor: Principal | None) -> Provider:
    """The queued creation, idempotent on the pre-generated id: create, audit, commit."""
    row = db.session.get(Provider, provider_id)
    if row is None:
        row = create_provider(company_id=owner_id, provider_id=provider_id, **fields)
        audit.record("provider.created", actor=actor, company_id=owner_id, entity_type="provider", entity_id=row.id)
        db.session.commit()
    return row


def create_model_once(*, provider_id, model_id, owner_id, fields: dict, actor: Principal | None) -> ProviderModel:
    row = db.session.get(ProviderModel, model_id)
    if row is None:
        row = create_model(get_provider(provider_id), company_id=owner_id, model_id=model_id, **fields)
        audit.record("provider.model_created", actor=actor, company_id=owner_id, entity_type="provider_model",
                     entity_id=row.id)
        db.session.commit()
    return row


def import_catalog(payload, *, owner_id, actor: Principal | None) -> dict:
    result = bulk_import(payload, company_id=owner_id)
    audit.record("provider.bulk_import", actor=actor, company_id=owner_id, entity_type="provider",
                 details={k: v for k, v in result.items() if k not in ("providers", "errors")})
    db.session.commit()
    return result


def save_provider(provider_id, *, actor: Principal, fields: dict) -> Provider:
    row = update_provider(get_provider(provider_id), is_super_admin=actor.is_super_admin, **fields)
    audit.record("provider.updated", actor=actor, entity_type="provider", entity_id=row.id)
    db.session.commit()
    return row


def remove_provider(provider_id, *, actor: Principal) -> tuple[Provider, int]:
    row = get_provider(provider_id)
    disabled = delete_provider(row, is_super_admin=actor.is_super_admin)
    audit.record("provider.deleted", actor=actor, entity_type="provider", entity_id=row.id)
    db.session.commit()
    return row, disabled


def save_model(provider_id, model_id, *, actor: Principal, fields: dict) -> ProviderModel:
    provider = get_provider(provider_id)
    row = update_model(provider, get_model(provider, model_id), is_super_admin=actor.is_super_admin, **fields)
    audit.record("provider.model_updated", actor=actor, entity_type="provider_model", entity_id=row.id)
    db.session.commit()
    return row


def remove_model(provider_id, model_id, *, actor: Principal) -> ProviderModel:
    row = get_model(get_provider(provider_id), model_id)
    delete_model(row, is_super_admin=actor.is_super_admin)
    audit.record("provider.model_deleted", actor=actor, entity_type="provider_model", entity_id=row.id)
    db.session.commit()
    return row
