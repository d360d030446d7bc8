"""Request schemas and serialisers for agents (CONTRACT §2.7, §1.12 Agent)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from knowrithm.infra.db import iso, sid

AgentStatus = Literal["active", "inactive", "training", "maintenance"]

# Flat ID-based LLM settings fields a create body may carry (G1/G2 form (a)).
SETTINGS_FIELDS = (
    "llm_provider_id", "llm_model_id", "llm_api_key", "llm_api_base_url", "llm_temperature", "llm_max_tokens",
    "llm_additional_params", "embedding_provider_id", "embedding_model_id", "embedding_api_key",
    "embedding_api_base_url", "embedding_dimension", "embedding_additional_params", "widget_script_url",
    "widget_config", "fallback_models",
)
AGENT_FIELDS = ("name", "description", "avatar_url", "status", "system_prompt", "personality_traits",
                "capabilities", "operating_hours", "languages")


class AgentFields(BaseModel):
    # Clients forward arbitrary extra keys (CONTRACT §1.3): tolerate them.
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
    company_id: str | None = None
    llm_settings_id: str | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _lower_status(cls, value):
        return value.strip().lower() if isinstance(value, str) else value


class AgentCreate(AgentFields):
    name: str = Field(min_length=1, max_length=200)
    llm_provider_id: str | None = None
    llm_model_id: str | None = None
    llm_api_key: str | None = None
    llm_api_base_url: str | None = None
    llm_temperature: float | None = Field(default=None, ge=0, le=2)
    llm_max_tokens: int | None = Field(default=None, gt=0)
    llm_additional_params: dict | None = None
    embedding_provider_id: str | None = None
    embedding_model_id: str | None = None
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
    # A settings object (names or ids) replaces the agent's LLM settings (D-15).
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
    company_id: str | None = None
    status: AgentStatus | None = None
    search: str | None = Field(default=None, max_length=200)
    page: int = Field(default=1, ge=1)
    per_page: int = Field(default=10, ge=1)  # capped at 100 by the service


class CompanyQuery(BaseModel):
    model_config = ConfigDict(extra="allow")
    company_id: str | None = None


class CloneIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    llm_settings_id: str | None = None
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


def agent_out(agent, *, settings=None, counts: dict | None = None, embed_code: str | None = None) -> dict:
    counts = counts or {}
    llm_model = settings.llm_model if settings is not None else None
    return {
        "id": sid(agent.id), "company_id": sid(agent.company_id), "name": agent.name,
        "description": agent.description, "avatar_url": agent.avatar_url, "status": agent.status,
        "model_name": llm_model.name if llm_model is not None else None,
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
