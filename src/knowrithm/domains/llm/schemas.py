"""Request bodies and the response shapes of settings, providers and models."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from knowrithm.domains.agents.models import Agent
from knowrithm.infra.crypto import decrypt, mask
from knowrithm.infra.db import db, iso, sid
from knowrithm.infra.parsing import UuidText
from knowrithm.infra.responses import MessageOut, Open

from .models import LLMSettings, Provider, ProviderModel
from .runtime import embedding_model_key


# --- requests ---------------------------------------------------------------------------

class SettingsIn(BaseModel):
    """Settings create/update bodies: ids or names for the models, everything else optional."""

    model_config = ConfigDict(extra="allow")
    agent_id: UuidText | None = None
    company_id: UuidText | None = None
    llm_provider_id: UuidText | None = None
    llm_model_id: UuidText | None = None
    llm_provider: str | None = None
    llm_model: str | None = None
    embedding_provider_id: UuidText | None = None
    embedding_model_id: UuidText | None = None
    embedding_provider: str | None = None
    embedding_model: str | None = None
    llm_api_key: str | None = None
    llm_api_base_url: str | None = Field(None, max_length=500)
    llm_temperature: float | None = Field(None, ge=0, le=2)
    llm_max_tokens: int | None = Field(None, gt=0)
    llm_additional_params: dict[str, Any] | None = None
    embedding_api_key: str | None = None
    embedding_api_base_url: str | None = Field(None, max_length=500)
    embedding_dimension: int | None = Field(None, gt=0)
    embedding_additional_params: dict[str, Any] | None = None
    widget_script_url: str | None = Field(None, max_length=500)
    widget_config: dict[str, Any] | None = None
    fallback_models: list[Any] | None = None
    metadata: dict[str, Any] | None = None
    provider_options: dict[str, Any] | None = None
    is_default: bool | None = None
    is_active: bool | None = None

    def fields(self) -> dict:
        """Declared fields the client sent (extras are tolerated but never reach the service)."""
        declared = set(type(self).model_fields) - {"company_id", "provider_options"}
        return self.model_dump(exclude_unset=True, include=declared)


class _Fields(BaseModel):
    def fields(self) -> dict:
        return self.model_dump(exclude_none=True, include=set(type(self).model_fields) - {"company_id"})


class TestOverridesIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    llm_api_key: str | None = None
    llm_api_base_url: str | None = None
    llm_model: str | None = None
    prompt: str | None = Field(None, max_length=2000)


class ProviderIn(_Fields):
    """SDK fields (`name`, `type`, `api_base_url`...) plus the catalog's own names."""

    model_config = ConfigDict(extra="allow")
    company_id: UuidText | None = None
    name: str | None = Field(None, min_length=1, max_length=120)
    type: str | None = None
    value: str | None = Field(None, min_length=1, max_length=80)
    label: str | None = Field(None, min_length=1, max_length=120)
    provider_type: str | None = None
    adapter: str | None = None
    description: str | None = None
    api_base_url: str | None = Field(None, max_length=500)
    default_base_url: str | None = Field(None, max_length=500)
    documentation_url: str | None = Field(None, max_length=500)
    logo_url: str | None = Field(None, max_length=500)
    pricing: dict[str, Any] | None = None
    pricing_tier: str | None = None
    status: str | None = None
    requires_api_key: bool | None = None
    requires_base_url: bool | None = None
    is_featured: bool | None = None
    tags: list[str] | None = None


class ModelIn(_Fields):
    model_config = ConfigDict(extra="allow")
    name: str | None = Field(None, min_length=1, max_length=160)
    type: str | None = None
    model_type: str | None = None
    display_name: str | None = Field(None, max_length=200)
    provider_model_id: str | None = Field(None, max_length=200)
    context_window: int | None = Field(None, gt=0)
    embedding_dimension: int | None = Field(None, gt=0)
    input_price: float | None = Field(None, ge=0)
    output_price: float | None = Field(None, ge=0)
    currency: str | None = Field(None, max_length=8)
    description: str | None = None
    status: str | None = None
    is_deprecated: bool | None = None
    is_recommended: bool | None = None
    supports_streaming: bool | None = None
    supports_function_calling: bool | None = None
    supports_vision: bool | None = None
    tags: list[str] | None = None


class ProviderListQuery(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str | None = None
    include_models: bool = False
    status: str | None = None


class ProviderGetQuery(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_models: bool = True


class ModelListQuery(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str | None = None
    status: str | None = None
    deployment: str | None = None


# --- responses --------------------------------------------------------------------------

def model_out(m: ProviderModel) -> dict:
    return {
        "id": sid(m.id), "provider_id": sid(m.provider_id), "company_id": sid(m.company_id),
        "is_custom": m.company_id is not None, "name": m.name, "display_name": m.display_name or m.name,
        "provider_model_id": m.provider_model_id, "model_type": m.model_type, "type": m.model_type,
        "context": m.context_window, "context_window": m.context_window,
        "dimension": m.embedding_dimension, "embedding_dimension": m.embedding_dimension,
        "pricing": {"input": m.input_price, "output": m.output_price, "currency": m.currency,
                    "unit": "per_1m_tokens"},
        "input_price": m.input_price, "output_price": m.output_price, "currency": m.currency,
        "description": m.description, "status": m.status, "is_deprecated": m.is_deprecated,
        "is_recommended": m.is_recommended, "supports_streaming": m.supports_streaming,
        "supports_function_calling": m.supports_function_calling, "supports_vision": m.supports_vision,
        "tags": list(m.tags or []), "created_at": iso(m.created_at), "updated_at": iso(m.updated_at),
    }


def provider_out(p: Provider, models: list[ProviderModel] | None = None) -> dict:
    body = {
        "id": sid(p.id), "company_id": sid(p.company_id), "is_custom": p.company_id is not None,
        "value": p.value, "name": p.label, "label": p.label, "provider_type": p.provider_type,
        "type": p.provider_type, "adapter": p.adapter, "description": p.description,
        "default_base_url": p.default_base_url, "api_base_url": p.default_base_url,
        "documentation_url": p.documentation_url, "logo_url": p.logo_url, "is_featured": p.is_featured,
        "pricing_tier": p.pricing_tier, "pricing": dict(p.pricing or {}), "requires_api_key": p.requires_api_key,
        "requires_base_url": p.requires_base_url, "status": p.status, "tags": list(p.tags or []),
        "created_at": iso(p.created_at), "updated_at": iso(p.updated_at),
    }
    if models is not None:
        body["models"] = [model_out(m) for m in models]
    return body


def _key_fields(prefix: str, encrypted: str | None) -> dict:
    """Never the key itself: whether one is stored and its last characters."""
    preview = None
    if encrypted:
        try:
            preview = mask(decrypt(encrypted))
        except RuntimeError:
            preview = "****"
    return {f"{prefix}_api_key_set": bool(encrypted), f"{prefix}_api_key_preview": preview}


def settings_out(s: LLMSettings) -> dict:
    agent = _agent_ref(s)
    fallbacks = [{k: v for k, v in f.items() if k != "api_key_encrypted"} | {"api_key_set": "api_key_encrypted" in f}
                 for f in (s.fallback_models or [])]
    return {
        "id": sid(s.id), "agent_id": sid(s.agent_id), "company_id": sid(s.company_id),
        "llm_provider": s.llm_provider.value, "llm_provider_id": sid(s.llm_provider_id),
        "llm_provider_label": s.llm_provider.label, "llm_model_id": sid(s.llm_model_id),
        "llm_model_name": s.llm_model.name, "llm_model": s.llm_model.name,
        "llm_temperature": s.llm_temperature, "llm_max_tokens": s.llm_max_tokens,
        "llm_api_base_url": s.llm_api_base_url or s.llm_provider.default_base_url,
        **_key_fields("llm", s.llm_api_key_encrypted),
        "llm_additional_params": dict(s.llm_additional_params or {}),
        "embedding_provider": s.embedding_provider.value, "embedding_provider_id": sid(s.embedding_provider_id),
        "embedding_provider_label": s.embedding_provider.label, "embedding_model_id": sid(s.embedding_model_id),
        "embedding_model_name": s.embedding_model.name, "embedding_model": s.embedding_model.name,
        "embedding_model_key": embedding_model_key(s),
        "embedding_api_base_url": s.embedding_api_base_url or s.embedding_provider.default_base_url,
        **_key_fields("embedding", s.embedding_api_key_encrypted),
        "embedding_dimension": s.embedding_dimension or s.embedding_model.embedding_dimension,
        "embedding_additional_params": dict(s.embedding_additional_params or {}),
        "fallback_models": fallbacks,
        "widget_script_url": s.widget_script_url, "widget_config": dict(s.widget_config or {}),
        "metadata": dict(s.extra_metadata or {}),
        "is_default": s.is_default, "is_active": s.is_active, "last_tested_at": iso(s.last_tested_at),
        "agent": agent, "company": {"id": sid(s.company_id)},
        # The CLI's settings picker shows these two when present.
        "provider": s.llm_provider.label, "model": s.llm_model.name,
        "created_at": iso(s.created_at), "updated_at": iso(s.updated_at),
    }


def _agent_ref(s: LLMSettings) -> dict | None:
    if not s.agent_id:
        return None

    agent = db.session.get(Agent, s.agent_id)
    return {"id": sid(agent.id), "name": agent.name} if agent is not None else {"id": sid(s.agent_id)}


class PricingOut(BaseModel):
    input: float | None
    output: float | None
    currency: str | None
    unit: Literal["per_1m_tokens"]


class ModelOut(Open):
    """`model_out`: prices are per million tokens; `is_custom` for a company's own models."""

    id: uuid.UUID
    provider_id: uuid.UUID
    company_id: uuid.UUID | None
    is_custom: bool
    name: str
    display_name: str
    provider_model_id: str | None
    model_type: Literal["llm", "embedding"]
    type: Literal["llm", "embedding"]
    context: int | None
    context_window: int | None
    dimension: int | None
    embedding_dimension: int | None
    pricing: PricingOut
    input_price: float | None
    output_price: float | None
    currency: str | None
    description: str | None
    status: str
    is_deprecated: bool | None
    is_recommended: bool | None
    supports_streaming: bool | None
    supports_function_calling: bool | None
    supports_vision: bool | None
    tags: list[Any]
    created_at: datetime | None
    updated_at: datetime | None


class ProviderOut(Open):
    """`provider_out`: `models` only when asked for (`include_models`) or in the settings forms."""

    id: uuid.UUID
    company_id: uuid.UUID | None
    is_custom: bool
    value: str
    name: str
    label: str
    provider_type: Literal["llm", "embedding", "both"]
    type: Literal["llm", "embedding", "both"]
    adapter: str | None
    description: str | None
    default_base_url: str | None
    api_base_url: str | None
    documentation_url: str | None
    logo_url: str | None
    is_featured: bool | None
    pricing_tier: str | None
    pricing: dict[str, Any]
    requires_api_key: bool | None
    requires_base_url: bool | None
    status: str
    tags: list[Any]
    created_at: datetime | None
    updated_at: datetime | None
    models: list[ModelOut] | None = None


class SettingsAgentRef(BaseModel):
    id: uuid.UUID
    name: str | None = None


class SettingsOut(Open):
    """`settings_out`: API keys never leave the server, only whether one is set and its last characters."""

    id: uuid.UUID
    agent_id: uuid.UUID | None
    company_id: uuid.UUID | None
    llm_provider: str
    llm_provider_id: uuid.UUID
    llm_provider_label: str
    llm_model_id: uuid.UUID
    llm_model_name: str
    llm_model: str
    llm_temperature: float | None
    llm_max_tokens: int | None
    llm_api_base_url: str | None
    llm_api_key_set: bool
    llm_api_key_preview: str | None
    llm_additional_params: dict[str, Any]
    embedding_provider: str
    embedding_provider_id: uuid.UUID
    embedding_provider_label: str
    embedding_model_id: uuid.UUID
    embedding_model_name: str
    embedding_model: str
    embedding_model_key: str
    embedding_api_base_url: str | None
    embedding_api_key_set: bool
    embedding_api_key_preview: str | None
    embedding_dimension: int | None
    embedding_additional_params: dict[str, Any]
    fallback_models: list[dict[str, Any]]
    widget_script_url: str | None
    widget_config: dict[str, Any]
    metadata: dict[str, Any]
    is_default: bool | None
    is_active: bool | None
    last_tested_at: datetime | None
    agent: SettingsAgentRef | None
    company: dict[str, uuid.UUID | None]
    provider: str
    model: str
    created_at: datetime | None
    updated_at: datetime | None


class SettingsProvidersOut(Open):
    llm_providers: list[ProviderOut]
    embedding_providers: list[ProviderOut]
    metadata: dict[str, Any]


class SettingsListOut(Open):
    settings: list[SettingsOut]
    total: int = Field(ge=0)


class SettingsUpdatedOut(MessageOut):
    settings: SettingsOut
    reembed_agent_ids: list[uuid.UUID]


class SettingsDeletedOut(MessageOut):
    settings_id: uuid.UUID


class ProviderListOut(Open):
    providers: list[ProviderOut]
    total: int = Field(ge=0)


class ProviderUpdatedOut(ProviderOut):
    """The provider's keys at the top level and again under `provider`."""

    message: str
    provider: ProviderOut


class ProviderDeletedOut(MessageOut):
    provider_id: uuid.UUID
    models_disabled: int = Field(ge=0)


class ModelListOut(Open):
    models: list[ModelOut]
    provider: ProviderOut
    total: int = Field(ge=0)


class ModelUpdatedOut(ModelOut):
    message: str
    model: ModelOut


class ModelDeletedOut(MessageOut):
    model_id: uuid.UUID
