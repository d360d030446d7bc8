"""The offline embedder: real int8 ONNX weights, the shipped tokenizer, no network."""
from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest

from knowrithm.integrations.embeddings import local
from knowrithm.integrations.embeddings.base import EmbeddingConfig, EmbeddingError, get_embedder


def embedder(**extra):
    return get_embedder("local", EmbeddingConfig(model="all-MiniLM-L6-v2", extra=extra))


def cosine(a, b) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_vectors_are_384_dimensional_and_unit_length():
    e = embedder()
    vectors = e.embed_documents(["Refunds are processed within five business days.", "Hello"])
    assert e.dimension == 384 and e.model_key == "local:all-MiniLM-L6-v2"
    assert [len(v) for v in vectors] == [384, 384]
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_paraphrases_are_close_and_unrelated_sentences_are_not():
    # sentence-transformers documents ~0.89 for this pair with the fp32 model; int8 must stay close.
    a, b, c = embedder().embed_documents(
        ["The new movie is awesome", "The new movie is so great", "The cat sits outside"])
    assert cosine(a, b) > 0.85
    assert cosine(a, c) < 0.2


def test_a_query_is_closer_to_its_answer_than_to_unrelated_text():
    e = embedder()
    query = e.embed_query("How long does a refund take?")
    related, unrelated, other = e.embed_documents([
        "Refunds are processed within 5 business days after we receive the item.",
        "Our headquarters are located in Berlin, Germany.",
        "The Pro plan costs 49 dollars per month.",
    ])
    assert cosine(query, related) > cosine(query, unrelated)
    assert cosine(query, related) > cosine(query, other)


def test_batching_and_sorting_keep_the_callers_order_and_values():
    texts = ["short", "a much longer sentence about shipping policies and delivery times", "", "medium size text"]
    batched = embedder().embed_documents(texts)
    one_by_one = [embedder().embed_query(t) for t in texts]
    assert np.allclose(batched, one_by_one, atol=1e-4)
    small_batches = get_embedder("local", EmbeddingConfig(model="all-MiniLM-L6-v2", batch_size=1)).embed_documents(texts)
    assert np.allclose(batched, small_batches, atol=1e-4)
    assert embedder().embed_documents([]) == []


def test_the_session_is_loaded_once_per_process_even_under_concurrency():
    config = EmbeddingConfig(model="all-MiniLM-L6-v2", extra={"threads": 1})
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(local._runtime(config))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(r) for r in seen}) == 1
    assert local._runtime(config) is seen[0]


def _model_dir(tmp_path):
    shutil.copy(local._bundled_model_file(), tmp_path / "model.onnx")
    shutil.copy(local.ASSETS / "tokenizer.json", tmp_path / "tokenizer.json")
    return tmp_path


def test_a_model_directory_override_is_used(tmp_path):
    folder = _model_dir(tmp_path)
    custom = embedder(model_path=str(folder)).embed_query("pricing of the enterprise plan")
    bundled = embedder().embed_query("pricing of the enterprise plan")
    assert np.allclose(custom, bundled, atol=1e-6)


def test_weights_with_a_different_hash_are_refused(tmp_path):
    folder = _model_dir(tmp_path)
    with open(folder / "model.onnx", "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(EmbeddingError) as err:
        embedder(model_path=str(folder), sha256=local.BUNDLED_SHA256).embed_query("x")
    assert err.value.code == "EMBEDDING_MODEL_CHECKSUM"
    assert "does not match" in str(err.value)


def test_the_bundled_weights_match_the_pinned_hash():
    assert local.sha256_of(local._bundled_model_file()) == local.BUNDLED_SHA256


def test_missing_directory_and_unknown_model_fail_clearly(tmp_path):
    with pytest.raises(EmbeddingError) as err:
        embedder(model_path=str(tmp_path / "nowhere")).embed_query("x")
    assert err.value.code == "EMBEDDING_MODEL_MISSING"
    with pytest.raises(EmbeddingError) as err:
        get_embedder("local", EmbeddingConfig(model="bge-large")).embed_query("x")
    assert err.value.code == "UNKNOWN_MODEL"
    with pytest.raises(EmbeddingError) as err:
        get_embedder("nope", EmbeddingConfig(model="x"))
    assert err.value.code == "UNKNOWN_PROVIDER" and "local" in str(err.value)
