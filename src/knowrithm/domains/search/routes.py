"""Search routes. `POST /search/database` belongs to the databases domain."""
from __future__ import annotations

from knowrithm.infra.api import ApiBlueprint
from knowrithm.infra.auth import READ_OR_WRITE
from knowrithm.infra.ratelimit import rate_limit

from . import service
from .schemas import DocumentSearchBody, SearchOut, search_out

bp = ApiBlueprint("search", __name__, tag="search")


@bp.post("/search/document", auth=READ_OR_WRITE, body=DocumentSearchBody, response=SearchOut,
         summary="Hybrid (BM25 + vector) search over an agent's documents")
@rate_limit("60/minute", scope="document_search", per="company")
def search_documents(body: DocumentSearchBody):
    results, elapsed = service.search_documents(agent_id=body.agent_id, query=body.query, limit=body.limit,
                                                 document_ids=body.document_ids, include_content=body.include_content)
    return search_out(query=body.query, agent_id=body.agent_id, results=results, elapsed=elapsed)
