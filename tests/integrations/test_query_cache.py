"""Query vectors are reused per model, never across models, and the cache is bounded."""
from __future__ import annotations

import pytest

from knowrithm.integrations.embeddings import query_cache
from knowrithm.integrations.embeddings.base import EmbeddingAdapter, EmbeddingConfig, EmbeddingError


class Counting(EmbeddingAdapter):
    name = "counting"

    def __init__(self, config, fail=False):
        super().__init__(config)
        self.calls, self.fail = [], fail

    def embed_documents(self, texts):
        if self.fail:
            raise EmbeddingError("down")
        self.calls.extend(texts)
        return [[float(len(t)), float(len(self.config.model))] for t in texts]


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch):
    monkeypatch.setattr(query_cache, "_CACHE", query_cache.OrderedDict())


def test_a_repeated_query_is_embedded_once_per_model():
    small, other = Counting(EmbeddingConfig(model="m1", api_key="k1")), Counting(EmbeddingConfig(model="model-2"))
    assert query_cache.embed_query(small, "refunds?") == [8.0, 2.0]
    again = Counting(EmbeddingConfig(model="m1", api_key="another key"))  # the key does not change a vector
    assert query_cache.embed_query(again, "refunds?") == [8.0, 2.0] and again.calls == []
    assert query_cache.embed_query(other, "refunds?") == [8.0, 7.0] and other.calls == ["refunds?"]
    assert small.calls == ["refunds?"]


def test_failures_are_not_cached_and_the_cache_is_bounded(monkeypatch):
    with pytest.raises(EmbeddingError):
        query_cache.embed_query(Counting(EmbeddingConfig(model="m"), fail=True), "q")
    monkeypatch.setattr(query_cache, "MAX_ENTRIES", 2)
    embedder = Counting(EmbeddingConfig(model="m"))
    for text in ("a", "b", "c", "a"):
        query_cache.embed_query(embedder, text)
    assert embedder.calls == ["a", "b", "c", "a"]  # "a" was evicted by "c"
    assert len(query_cache._CACHE) == 2
