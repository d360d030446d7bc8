"""Which embedder indexes an agent's knowledge: the agent's LLM settings, else the company default.

Documents (indexing) and search (query vectors) both ask here, so the same model writes and
reads an agent's vectors.
"""
from __future__ import annotations

from knowrithm.infra.db import db
from knowrithm.integrations.embeddings.base import EmbeddingAdapter

from .models import LLMSettings
from .runtime import embedder_for
from .service import default_settings


def agent_embedder(agent) -> EmbeddingAdapter:
    # Only the embedding half: chat adapters (and their keys) are not needed to index.
    row = db.session.get(LLMSettings, agent.llm_settings_id) if agent.llm_settings_id else None
    if row is None or row.deleted_at is not None:
        row = default_settings(agent.company_id)
    return embedder_for(row)


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
