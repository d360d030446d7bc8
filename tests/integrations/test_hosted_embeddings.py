"""Hosted embedders through the real SDKs against loopback servers: batching, order, errors."""
from __future__ import annotations

import numpy as np
import pytest

from knowrithm.integrations.embeddings.base import EmbeddingConfig, EmbeddingError, get_embedder

from .protocol_servers import API_KEY, fake_embedding

TEXTS = ["refund policy", "shipping times", "", "office in Berlin", "pricing of the pro plan"]


def openai_embedder(server, name="openai", **kw):
    config = EmbeddingConfig(model=kw.pop("model", "text-embedding-3-small"), api_key=kw.pop("api_key", API_KEY),
                             base_url=server.base_url, **kw)
    return get_embedder(name, config)


def gemini_embedder(server, **kw):
    config = EmbeddingConfig(model="gemini-embedding-001", api_key=kw.pop("api_key", API_KEY),
                             base_url=server.base_url, extra={"retry_initial_delay": 0.01, "retry_jitter": 0}, **kw)
    return get_embedder("gemini", config)


def test_openai_embeds_in_batches_and_keeps_order(openai_server):
    vectors = openai_embedder(openai_server, batch_size=2).embed_documents(TEXTS)
    assert np.allclose(vectors, [fake_embedding(t or " ", 8) for t in TEXTS])
    calls = openai_server.calls("/embeddings")
    assert [len(c["json"]["input"]) for c in calls] == [2, 2, 1]
    assert all(c["json"]["encoding_format"] == "float" for c in calls)


def test_openai_asks_for_the_configured_dimension(openai_server):
    vector = openai_embedder(openai_server, dimension=16).embed_query("refund policy")
    assert len(vector) == 16 and openai_server.requests[0]["json"]["dimensions"] == 16


def test_openai_compatible_embeddings_without_a_key(openai_server):
    openai_server.api_key = "not-needed"
    embedder = get_embedder("openai_compatible", EmbeddingConfig(model="nomic-embed-text",
                                                                 base_url=openai_server.base_url))
    assert embedder.embed_query("refund policy") == pytest.approx(fake_embedding("refund policy", 8))
    assert "dimensions" not in openai_server.requests[0]["json"]  # most local servers reject it
    assert embedder.model_key == "openai_compatible:nomic-embed-text"


def test_openai_embedding_errors_are_mapped(openai_server):
    with pytest.raises(EmbeddingError) as err:
        openai_embedder(openai_server, api_key="wrong").embed_query("x")
    assert (err.value.code, err.value.status, err.value.retryable) == ("EMBEDDING_AUTH_FAILED", 401, False)
    openai_server.fail_next(429, 429, 429)
    with pytest.raises(EmbeddingError) as err:
        openai_embedder(openai_server, max_retries=2).embed_query("x")
    assert (err.value.code, err.value.retryable) == ("EMBEDDING_RATE_LIMITED", True)


def test_openai_embeddings_retry_then_succeed(openai_server):
    openai_server.fail_next(503)
    assert len(openai_embedder(openai_server).embed_query("x")) == 8
    assert len(openai_server.requests) == 2


def test_gemini_embeds_documents_in_batches_and_queries_as_queries(gemini_server):
    embedder = gemini_embedder(gemini_server, batch_size=3, dimension=12)
    vectors = embedder.embed_documents(TEXTS)
    # shortened Gemini vectors come back rescaled to unit length (the server sends them at 0.7)
    assert np.allclose(vectors, [fake_embedding(t or " ", 12) for t in TEXTS])
    calls = gemini_server.calls(":batchEmbedContents")
    assert [len(c["json"]["requests"]) for c in calls] == [3, 2]
    assert calls[0]["json"]["requests"][0]["taskType"] == "RETRIEVAL_DOCUMENT"
    assert calls[0]["json"]["requests"][0]["outputDimensionality"] == 12
    embedder.embed_query("refund policy")
    assert gemini_server.requests[-1]["json"]["requests"][0]["taskType"] == "RETRIEVAL_QUERY"


def test_gemini_embedding_errors_are_mapped(gemini_server):
    with pytest.raises(EmbeddingError) as err:
        gemini_embedder(gemini_server, api_key="wrong").embed_documents(["x"])
    assert (err.value.code, err.value.retryable) == ("EMBEDDING_AUTH_FAILED", False)
    with pytest.raises(EmbeddingError) as err:
        get_embedder("gemini", EmbeddingConfig(model="gemini-embedding-001"))
    assert err.value.code == "EMBEDDING_AUTH_FAILED"
