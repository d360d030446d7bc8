"""Search's reactions to other domains' events, connected once at start-up (`domains.init_domains`)."""
from __future__ import annotations

from knowrithm.domains.documents.signals import chunks_indexed
from knowrithm.infra.tasks import enqueue

from . import tasks
from .vector_index import needs_index


def index_if_large(agent_id: str, *, company_id: str | None = None, **_) -> None:
    """The ingestion that takes an agent past the size threshold starts its HNSW build (the
    `vector_indexes` beat sweep catches any agent this misses)."""
    if agent_id and needs_index(agent_id):
        enqueue(tasks.build_vector_index, company_id=company_id, agent_id=agent_id)


def install() -> None:
    chunks_indexed.connect(index_if_large)
