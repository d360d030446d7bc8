"""Which embedder indexes an agent's knowledge: the agent's LLM settings, else the company default."""
from __future__ import annotations

from knowrithm.infra.db import db
from knowrithm.integrations.embeddings.base import EmbeddingAdapter, EmbeddingConfig, get_embedder

OFFLINE_MODEL = "all-MiniLM-L6-v2"


def _runtime_for_settings():
    """H4b's `runtime_for_settings`, wherever the LLM domain keeps it (None before it exists)."""
    import importlib

    for module in ("knowrithm.domains.llm.service", "knowrithm.domains.llm.runtime"):
        try:
            fn = getattr(importlib.import_module(module), "runtime_for_settings", None)
        except ImportError:
            fn = None
        if fn is not None:
            return fn
    return None


def agent_embedder(agent) -> EmbeddingAdapter:
    from knowrithm.domains.llm import service as llm
    from knowrithm.domains.llm.models import LLMSettings

    try:  # only the embedding half: chat adapters (and their keys) are not needed to index
        from knowrithm.domains.llm.runtime import embedder_for
    except ImportError:
        embedder_for = None
    runtime_for_settings = _runtime_for_settings()
    if embedder_for is None and runtime_for_settings is None:  # no LLM runtime yet: the offline default
        return get_embedder("local", EmbeddingConfig(model=OFFLINE_MODEL))
    row = db.session.get(LLMSettings, agent.llm_settings_id) if agent.llm_settings_id else None
    if row is None or row.deleted_at is not None:
        row = llm.default_settings(agent.company_id)
    if embedder_for is not None:
        return embedder_for(row)
    return runtime_for_settings(row)[1]


def embed_in_batches(embedder: EmbeddingAdapter, texts: list[str], *, batch_size: int = 32,
                     on_batch=None) -> list[list[float]]:
    """Embed in batches of similar length: a batch is padded to its longest text, so mixing a
    title-sized chunk with a full one wastes most of the model's work on padding."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors: list[list[float] | None] = [None] * len(texts)
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        for i, vec in zip(batch, embedder.embed_documents([texts[i] for i in batch])):
            vectors[i] = vec
        if on_batch is not None:
            on_batch(min(start + batch_size, len(texts)), len(texts))
    return vectors  # type: ignore[return-value]
