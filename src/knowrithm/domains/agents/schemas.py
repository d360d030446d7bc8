"""Request schemas and serialisers for agents ."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from knowrithm.infra.db import iso, sid
from knowrithm.infra.parsing import UuidText
from knowrithm.infra.responses import Open, Pagination, TaskAccepted

AgentStatus = Literal["active", "inactive", "training", "maintenance"]

# Flat ID-based LLM settings fields a create body may carry (the SDK's flat form).
SETTINGS_FIELDS = (
    "llm_provider_id", "llm_model_id", "llm_api_key", "llm_api_base_url", "llm_temperature", "llm_max_tokens",
    "llm_additional_params", "embedding_provider_id", "embedding_model_id", "embedding_api_key",
    "embedding_api_base_url", "embedding_dimension", "embedding_additional_params", "widget_script_url",
    "widget_config", "fallback_models",
)
AGENT_FIELDS = ("name", "description", "avatar_url", "status", "system_prompt", "personality_traits",
                "capabilities", "operating_hours", "languages")


class AgentFields(BaseModel):
    # Clients forward arbitrary extra keys : tolerate them (docs/api-compatibility.md, "Lenient request parsing").
    model_config = ConfigDict(extra="allow")

    description: str | None = Field(default=None, max_length=5000)
    avatar_url: str | None = Field(default=None, max_length=500)
    status: AgentStatus | None = None
    system_prompt: str | None = Field(default=None, max_length=20000)
    # SW shows an object; some clients send a list of adjectives or a sentence: keep what was sent.
    personality_traits: dict | list | str | None = None
    capabilities: list[str] | None = None
    operating_hours: dict | None = None
    languages: list[str] | None = None
    company_id: UuidText | None = None
    llm_settings_id: UuidText | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _lower_status(cls, value):
        return value.strip().lower() if isinstance(value, str) else value


class AgentCreate(AgentFields):
    name: str = Field(min_length=1, max_length=200)
    llm_provider_id: UuidText | None = None
    llm_model_id: UuidText | None = None
    llm_api_key: str | None = None
    llm_api_base_url: str | None = None
    llm_temperature: float | None = Field(default=None, ge=0, le=2)
    llm_max_tokens: int | None = Field(default=None, gt=0)
    llm_additional_params: dict | None = None
    embedding_provider_id: UuidText | None = None
    embedding_model_id: UuidText | None = None
    embedding_api_key: str | None = None
    embedding_api_base_url: str | None = None
    embedding_dimension: int | None = Field(default=None, gt=0)
    embedding_additional_params: dict | None = None
    widget_script_url: str | None = None
    widget_config: dict | None = None
    fallback_models: list | None = None
    # Nested settings: names (`settings`, /sdk form (b)) or ids (`llm_settings`, Docs).
    settings: dict[str, Any] | None = None
    llm_settings: dict[str, Any] | None = None

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("name must not be blank")
        return value


class AgentUpdate(AgentFields):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    # A settings object (names or ids) replaces the agent's LLM settings.
    settings: dict[str, Any] | None = None
    llm_settings: dict[str, Any] | None = None

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str | None) -> str | None:
        if value is not None:
            value = value.strip()
            if not value:
                raise ValueError("name must not be blank")
        return value


class AgentListQuery(BaseModel):
    model_config = ConfigDict(extra="allow")
    company_id: UuidText | None = None
    status: AgentStatus | None = None
    search: str | None = Field(default=None, max_length=200)
    page: int = Field(default=1, ge=1)
    per_page: int = Field(default=10, ge=1)  # capped at 100 by the service


class CompanyQuery(BaseModel):
    model_config = ConfigDict(extra="allow")
    company_id: UuidText | None = None


class CloneIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    llm_settings_id: UuidText | None = None
    description: str | None = Field(default=None, max_length=5000)


class TestIn(BaseModel):
    # The CLI may send an arbitrary payload; `message`/`question`/`prompt` are read as the query too.
    model_config = ConfigDict(extra="allow")
    query: str | None = Field(default=None, max_length=4000)
    message: str | None = Field(default=None, max_length=4000)
    question: str | None = Field(default=None, max_length=4000)
    prompt: str | None = Field(default=None, max_length=4000)

    @property
    def text(self) -> str | None:
        for value in (self.query, self.message, self.question, self.prompt):
            if value and value.strip():
                return value.strip()
        return None


# --- serialisers ----------------------------------------------------------------------

def agent_public_out(agent) -> dict:
    """What the unauthenticated widget may see: no prompt, settings or usage figures."""
    return {
        "id": sid(agent.id), "company_id": sid(agent.company_id), "name": agent.name,
        "description": agent.description, "avatar_url": agent.avatar_url, "status": agent.status,
        "languages": agent.languages or [], "capabilities": agent.capabilities or [],
        "operating_hours": agent.operating_hours or {},
        "created_at": iso(agent.created_at), "updated_at": iso(agent.updated_at),
    }


@dataclass(frozen=True)
class SettingsBrief:
    """The few settings fields an agent's serialised form shows (and its embed snippet needs):
    a listing reads these four columns instead of loading each settings row with its providers."""

    model_name: str | None
    llm_temperature: float | None
    llm_max_tokens: int | None
    widget_script_url: str | None

    @classmethod
    def of(cls, settings) -> "SettingsBrief | None":
        if settings is None:
            return None
        model = settings.llm_model
        return cls(model.name if model is not None else None, settings.llm_temperature, settings.llm_max_tokens,
                   settings.widget_script_url)


def agent_out(agent, *, settings: SettingsBrief | None = None, counts: dict | None = None,
              embed_code: str | None = None) -> dict:
    counts = counts or {}
    return {
        "id": sid(agent.id), "company_id": sid(agent.company_id), "name": agent.name,
        "description": agent.description, "avatar_url": agent.avatar_url, "status": agent.status,
        "model_name": settings.model_name if settings is not None else None,
        "llm_settings_id": sid(agent.llm_settings_id),
        "system_prompt": agent.system_prompt,
        "personality_traits": agent.personality_traits if agent.personality_traits is not None else {},
        "capabilities": agent.capabilities or [], "operating_hours": agent.operating_hours or {},
        "languages": agent.languages or [],
        "temperature": settings.llm_temperature if settings is not None else None,
        "max_tokens": settings.llm_max_tokens if settings is not None else None,
        "embed_code": embed_code,
        "last_trained": iso(agent.last_trained),
        "active_embedding_model": agent.active_embedding_model, "reembed_status": agent.reembed_status,
        "total_conversations": counts.get("conversations", 0), "total_messages": counts.get("messages", 0),
        "average_rating": counts.get("rating"),
        "documents": counts.get("documents", 0), "databases": counts.get("databases", 0),
        "created_by": sid(agent.created_by),
        "created_at": iso(agent.created_at), "updated_at": iso(agent.updated_at), "deleted_at": iso(agent.deleted_at),
    }


class AgentPublicOut(Open):
    """`agent_public_out`: what anyone may read; an agent's own company gets `AgentOut`'s keys too."""

    id: uuid.UUID
    company_id: uuid.UUID
    name: str
    description: str | None
    avatar_url: str | None
    status: AgentStatus
    languages: list[Any]
    capabilities: list[Any]
    operating_hours: dict[str, Any]
    created_at: datetime | None
    updated_at: datetime | None


class AgentOut(AgentPublicOut):
    model_name: str | None
    llm_settings_id: uuid.UUID | None
    system_prompt: str | None
    personality_traits: dict[str, Any] | list[Any] | str
    temperature: float | None
    max_tokens: int | None
    embed_code: str | None
    last_trained: datetime | None
    active_embedding_model: str | None
    reembed_status: str | None
    total_conversations: int
    total_messages: int
    average_rating: float | None
    documents: int
    databases: int
    created_by: uuid.UUID | None
    deleted_at: datetime | None


class AgentListOut(Open):
    agents: list[AgentOut]
    data: list[AgentOut]
    pagination: Pagination
    total: int = Field(ge=0)


class AgentByNameOut(Open):
    agent: AgentOut


class AgentGetOut(Open):
    agent: AgentPublicOut
    id: uuid.UUID
    name: str


class AgentTaskOut(TaskAccepted):
    agent_id: uuid.UUID


class AgentCloneOut(TaskAccepted):
    clone_agent_id: uuid.UUID


class AgentUpdatedOut(Open):
    agent: AgentOut
    initiated_by: uuid.UUID | None
    message: str


class AgentDeletedOut(Open):
    agent_id: uuid.UUID
    initiated_by: uuid.UUID | None
    message: str


class EmbedCodeOut(Open):
    embed_code: str
    simple: str
    advanced: str
    config: dict[str, Any]
    script_url: str
    preview_url: str
    agent_id: uuid.UUID
    agent_name: str


class AgentStatsOut(Open):
    agent_id: uuid.UUID
    agent_name: str
    status: AgentStatus
    total_conversations: int
    total_messages: int
    average_rating: float | None
    documents_count: int
    databases_count: int
    chunks_count: int
    llm_provider: str | None
    llm_model: str | None
    embedding_model: str | None
    last_trained: datetime | None
    created_at: datetime | None
