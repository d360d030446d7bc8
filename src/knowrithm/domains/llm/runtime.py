"""Turning stored settings into ready adapters: the one place provider keys are decrypted for use."""
from __future__ import annotations

import logging

from flask import current_app

from knowrithm.infra.crypto import decrypt
from knowrithm.infra.db import db
from knowrithm.infra.parsing import parse_uuid
from knowrithm.integrations.embeddings.base import EmbeddingAdapter, EmbeddingConfig, get_embedder
from knowrithm.integrations.llm.base import LLMAdapter, LLMConfig, LLMError, get_adapter

from .models import LLMSettings, Provider, ProviderModel

log = logging.getLogger(__name__)

# The offline provider's two halves live in different registries under different names.
_LLM_ALIASES = {"local": "extractive"}
_EMBEDDING_ALIASES = {"extractive": "local"}


def llm_adapter_name(provider: Provider) -> str:
    return _LLM_ALIASES.get(provider.adapter, provider.adapter)


def embedding_adapter_name(provider: Provider) -> str:
    return _EMBEDDING_ALIASES.get(provider.adapter, provider.adapter)


def _vendor_model(model: ProviderModel) -> str:
    return model.provider_model_id or model.name


def _key(encrypted: str | None, provider: Provider) -> str | None:
    key = decrypt(encrypted)
    if not key and provider.adapter == "gemini":
        key = current_app.config["SETTINGS"].GEMINI_API_KEY
    return key


def embedding_model_key(settings: LLMSettings) -> str:
    """The key stored on chunks (same format as `EmbeddingAdapter.model_key`)."""
    return f"{embedding_adapter_name(settings.embedding_provider)}:{_vendor_model(settings.embedding_model)}"


def llm_config(settings: LLMSettings, provider: Provider, model: ProviderModel, *,
               api_key_encrypted: str | None = None, base_url: str | None = None,
               limits: dict | None = None) -> LLMConfig:
    return LLMConfig(model=_vendor_model(model), api_key=_key(api_key_encrypted, provider),
                     base_url=base_url or provider.default_base_url, temperature=settings.llm_temperature,
                     max_tokens=settings.llm_max_tokens, extra=dict(settings.llm_additional_params or {}),
                     **(limits or {}))


def chat_adapters(settings: LLMSettings, overrides: dict | None = None, *,
                  limits: dict | None = None) -> list[tuple[str, LLMAdapter]]:
    """The primary model then each fallback, in order, as (model label, adapter).

    `limits` (timeout, max_retries) tightens the adapters for interactive checks.
    """
    overrides = overrides or {}
    primary_key = overrides.get("llm_api_key_encrypted") or settings.llm_api_key_encrypted
    config = llm_config(settings, settings.llm_provider, settings.llm_model, api_key_encrypted=primary_key,
                        base_url=overrides.get("llm_api_base_url") or settings.llm_api_base_url, limits=limits)
    if overrides.get("llm_model"):
        config.model = overrides["llm_model"]
    out = [(settings.llm_model.name, get_adapter(llm_adapter_name(settings.llm_provider), config))]
    for entry in settings.fallback_models or []:
        provider_id, model_id = parse_uuid(entry.get("provider_id")), parse_uuid(entry.get("model_id"))
        provider = db.session.get(Provider, provider_id) if provider_id else None
        model = db.session.get(ProviderModel, model_id) if model_id else None
        if provider is None or model is None or model.deleted_at is not None:
            continue  # a fallback whose catalog row was removed is skipped, not fatal
        same = provider.id == settings.llm_provider_id
        key = entry.get("api_key_encrypted") or (primary_key if same else None)
        base = entry.get("api_base_url") or (settings.llm_api_base_url if same else None)
        try:
            out.append((model.name, get_adapter(llm_adapter_name(provider),
                                                llm_config(settings, provider, model, api_key_encrypted=key,
                                                           base_url=base, limits=limits))))
        except LLMError:  # e.g. its key was removed: the primary and the other fallbacks still serve
            log.warning("fallback %s/%s skipped: adapter cannot be built", provider.value, model.name,
                        exc_info=True)
    return out


def embedder_for(settings: LLMSettings, *, limits: dict | None = None) -> EmbeddingAdapter:
    provider = settings.embedding_provider
    config = EmbeddingConfig(model=_vendor_model(settings.embedding_model),
                             api_key=_key(settings.embedding_api_key_encrypted, provider),
                             base_url=settings.embedding_api_base_url or provider.default_base_url,
                             dimension=settings.embedding_dimension or settings.embedding_model.embedding_dimension,
                             extra=dict(settings.embedding_additional_params or {}), **(limits or {}))
    return get_embedder(embedding_adapter_name(provider), config)


def runtime_for_settings(settings: LLMSettings) -> tuple[list[tuple[str, LLMAdapter]], EmbeddingAdapter]:
    """(chat adapters in fallback order, embedder) for the answer path and ingestion."""
    return chat_adapters(settings), embedder_for(settings)


