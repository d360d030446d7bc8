"""Vector-index upkeep (queue `low`): build an agent's HNSW index once it is large, drop orphans."""
from __future__ import annotations

from celery import shared_task
from flask import current_app

from . import vector_index


@shared_task(name="knowrithm.maintenance.build_vector_index", acks_late=True, soft_time_limit=3600,
             time_limit=3700)
def build_vector_index(agent_id: str, company_id: str | None = None) -> dict:
    built = vector_index.build(agent_id)
    return {"agent_id": agent_id, "index": built.name if built else None}


@shared_task(name="knowrithm.maintenance.vector_indexes")
def vector_indexes() -> dict:
    """Beat sweep: agents that crossed the size threshold or changed embedding model, and
    indexes whose agent is gone. Builds run one after another to bound memory."""
    built = []
    for agent_id in vector_index.agents_needing_index(current_app.config["SETTINGS"].VECTOR_INDEX_MIN_CHUNKS):
        if vector_index.build(agent_id):
            built.append(str(agent_id))
    return {"built": built, "dropped": vector_index.drop_orphans()}
