"""The Cohere rerank protocol: `POST {base}/rerank` with a query and documents, answered with
`results: [{index, relevance_score}]`. Cohere (`https://api.cohere.com/v1`), Jina
(`https://api.jina.ai/v1`), vLLM, Infinity and LocalAI (`http://host:port/v1`) all speak it."""
from __future__ import annotations

import requests

from .base import Reranker, RerankError, register


@register
class CohereReranker(Reranker):
    name = "cohere"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if not self.base_url:
            raise RerankError("RERANK_BASE_URL is required (e.g. http://localhost:8000/v1)", code="RERANK_BAD_CONFIG")
        self.session = requests.Session()

    def rerank(self, query: str, passages: list[str]) -> list[float]:
        if not passages:
            return []
        body = {"query": query, "documents": passages, "top_n": len(passages), "return_documents": False}
        if self.model:
            body["model"] = self.model
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            resp = self.session.post(self.base_url.rstrip("/") + "/rerank", json=body, headers=headers,
                                     timeout=self.timeout)
        except requests.RequestException as exc:
            raise RerankError(f"Reranker unreachable: {exc.__class__.__name__}", code="RERANK_UNAVAILABLE") from exc
        if resp.status_code != 200:
            raise RerankError(f"Reranker answered HTTP {resp.status_code}: {resp.text[:200]}",
                              code="RERANK_UNAVAILABLE" if resp.status_code >= 500 else "RERANK_REJECTED")
        try:
            results = resp.json()["results"]
            scores = {int(r["index"]): float(r["relevance_score"]) for r in results}
        except (ValueError, KeyError, TypeError) as exc:
            raise RerankError(f"Unexpected reranker response: {resp.text[:200]}", code="RERANK_BAD_RESPONSE") from exc
        if set(scores) != set(range(len(passages))):
            raise RerankError(f"Reranker scored {len(scores)} of {len(passages)} passages",
                              code="RERANK_BAD_RESPONSE")
        return [scores[i] for i in range(len(passages))]
