"""The provider/model catalog and the LLM settings an agent answers and embeds with."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from knowrithm.infra.db import Base, CatalogOwned, SoftDelete, TenantOwned, Timestamps, UUIDPk


class Provider(UUIDPk, Timestamps, SoftDelete, CatalogOwned, Base):
    """An LLM/embedding vendor. Platform catalog rows have no company; companies may add their own."""

    __tablename__ = "providers"
    __table_args__ = (UniqueConstraint("company_id", "value", name="uq_providers_company_value"),)

    value: Mapped[str] = mapped_column(String(80), nullable=False, index=True)   # adapter key: openai, gemini...
    label: Mapped[str] = mapped_column(String(120), nullable=False)
    provider_type: Mapped[str] = mapped_column(String(20), default="both", nullable=False)  # llm|embedding|both
    adapter: Mapped[str] = mapped_column(String(40), default="openai_compatible", nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    default_base_url: Mapped[str | None] = mapped_column(String(500))
    documentation_url: Mapped[str | None] = mapped_column(String(500))
    logo_url: Mapped[str | None] = mapped_column(String(500))
    is_featured: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    pricing_tier: Mapped[str | None] = mapped_column(String(20))
    requires_api_key: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    requires_base_url: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    status: Mapped[str] = mapped_column(String(20), default="active", nullable=False)
    tags: Mapped[list] = mapped_column(JSON, default=list, nullable=False)
    pricing: Mapped[dict] = mapped_column(JSON, default=dict, nullable=False)
    models: Mapped[list["ProviderModel"]] = relationship(back_populates="provider", order_by="ProviderModel.name")


class ProviderModel(UUIDPk, Timestamps, SoftDelete, CatalogOwned, Base):
    __tablename__ = "provider_models"
    # Per owner: two companies may both add a model of the same name to a platform provider
    # (e.g. under vLLM). Platform rows (NULL company) are kept unique by the seed's lock.
    __table_args__ = (UniqueConstraint("provider_id", "company_id", "name", name="uq_provider_models_provider_name"),)

    provider_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("providers.id", ondelete="CASCADE"),
                                                   index=True, nullable=False)
    name: Mapped[str] = mapped_column(String(160), nullable=False)
    display_name: Mapped[str | None] = mapped_column(String(200))
    provider_model_id: Mapped[str | None] = mapped_column(String(200))
    model_type: Mapped[str] = mapped_column(String(20), nullable=False)  # llm | embedding
    context_window: Mapped[int | None] = mapped_column(Integer)
    embedding_dimension: Mapped[int | None] = mapped_column(Integer)
    input_price: Mapped[float | None] = mapped_column(Float)
    output_price: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(8), default="USD", nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="active", nullable=False)
    is_deprecated: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    is_recommended: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    supports_streaming: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    supports_function_calling: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    supports_vision: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    tags: Mapped[list] = mapped_column(JSON, default=list, nullable=False)
    provider: Mapped[Provider] = relationship(back_populates="models")


class LLMSettings(UUIDPk, Timestamps, SoftDelete, TenantOwned, Base):
    """Which model answers for an agent (or the company default) and which model embeds its knowledge.

    API keys are stored Fernet-encrypted (`*_api_key_encrypted`) and never serialised.
    """

    __tablename__ = "llm_settings"

    # No FK here: agents already reference their settings, and a cycle would need use_alter.
    agent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    llm_provider_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("providers.id"), nullable=False)
    llm_model_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("provider_models.id"), nullable=False)
    llm_api_key_encrypted: Mapped[str | None] = mapped_column(Text)
    llm_api_base_url: Mapped[str | None] = mapped_column(String(500))
    llm_temperature: Mapped[float] = mapped_column(Float, default=0.5, nullable=False)
    llm_max_tokens: Mapped[int | None] = mapped_column(Integer)
    llm_additional_params: Mapped[dict] = mapped_column(JSON, default=dict, nullable=False)
    embedding_provider_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("providers.id"), nullable=False)
    embedding_model_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("provider_models.id"), nullable=False)
    embedding_api_key_encrypted: Mapped[str | None] = mapped_column(Text)
    embedding_api_base_url: Mapped[str | None] = mapped_column(String(500))
    embedding_dimension: Mapped[int | None] = mapped_column(Integer)
    embedding_additional_params: Mapped[dict] = mapped_column(JSON, default=dict, nullable=False)
    fallback_models: Mapped[list] = mapped_column(JSON, default=list, nullable=False)
    widget_script_url: Mapped[str | None] = mapped_column(String(500))
    widget_config: Mapped[dict] = mapped_column(JSON, default=dict, nullable=False)
    extra_metadata: Mapped[dict] = mapped_column("metadata", JSON, default=dict, nullable=False)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    last_tested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # Joined: every use (each search and answer builds its adapters) needs all four, and four
    # lazy loads were four round trips on the hot path.
    llm_provider: Mapped[Provider] = relationship(foreign_keys=[llm_provider_id], lazy="joined")
    llm_model: Mapped[ProviderModel] = relationship(foreign_keys=[llm_model_id], lazy="joined")
    embedding_provider: Mapped[Provider] = relationship(foreign_keys=[embedding_provider_id], lazy="joined")
    embedding_model: Mapped[ProviderModel] = relationship(foreign_keys=[embedding_model_id], lazy="joined")
