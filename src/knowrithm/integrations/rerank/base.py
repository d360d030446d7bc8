"""Optional second-stage reranking of fused search results (a cross-encoder behind an API).

Off by default: no cross-encoder with bundled weights exists for offline use (README, "What is embedded and what is real"),
so the embedded default ranks with hybrid fusion alone. `RERANK_PROVIDER=cohere` turns on the
Cohere rerank wire protocol, which Cohere, Jina, vLLM (`/v1/rerank`), Infinity and LocalAI serve.
"""
from __future__ import annotations

import threading
from abc import ABC, abstractmethod

_ADAPTERS: dict[str, type["Reranker"]] = {}
_CACHE: dict[tuple, "Reranker"] = {}
_LOCK = threading.Lock()


class RerankError(Exception):
    def __init__(self, message: str, *, code: str = "RERANK_ERROR"):
        super().__init__(message)
        self.code = code


class Reranker(ABC):
    name: str

    def __init__(self, *, base_url: str | None, model: str | None, api_key: str | None, timeout: float):
        self.base_url, self.model, self.api_key, self.timeout = base_url, model, api_key, timeout

    @abstractmethod
    def rerank(self, query: str, passages: list[str]) -> list[float]:
        """One relevance score per passage, in the passages' order (higher is more relevant)."""


def register(cls: type[Reranker]) -> type[Reranker]:
    _ADAPTERS[cls.name] = cls
    return cls


def get_reranker(settings) -> Reranker | None:
    """The configured reranker, one per process (its HTTP session keeps connections alive)."""
    provider = (settings.RERANK_PROVIDER or "").strip().lower()
    if provider in ("", "none", "off"):
        return None
    from . import cohere  # noqa: F401  (registers the adapter)

    if provider not in _ADAPTERS:
        raise RerankError(f"Unknown RERANK_PROVIDER {provider!r}; known: {', '.join(sorted(_ADAPTERS))}",
                          code="RERANK_BAD_CONFIG")
    key = (provider, settings.RERANK_BASE_URL, settings.RERANK_MODEL, settings.RERANK_API_KEY,
           settings.RERANK_TIMEOUT)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = _ADAPTERS[provider](base_url=settings.RERANK_BASE_URL, model=settings.RERANK_MODEL,
                                              api_key=settings.RERANK_API_KEY, timeout=settings.RERANK_TIMEOUT)
        return _CACHE[key]
