from .base import Reranker, RerankError, get_reranker

__all__ = ["Reranker", "RerankError", "get_reranker"]
