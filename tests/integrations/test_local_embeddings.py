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


def test_model_calls_are_cut_by_a_padded_token_budget():
    """Long texts run one at a time, short ones a few together (BATCH_TOKENS padded tokens)."""
    lengths = np.array([200, 10, 12, 250, 11, 30, 9])
    batches = [list(b) for b in local._token_budget_batches(lengths, 128, 64)]
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))  # each text once
    assert all(len(b) * max(lengths[b]) <= 128 or len(b) == 1 for b in batches)
    assert [3] in batches and [0] in batches  # over the budget alone
    assert max(len(b) for b in batches) > 1  # the short ones share calls
    assert [list(b) for b in local._token_budget_batches(lengths, 10_000, 2)][0] == [6, 1]  # and max_items


def test_one_call_is_spread_over_the_sessions_and_gives_the_same_vectors():
    texts = [f"Passage {i}: " + "the refund policy covers returns within thirty days " * (i % 7 + 1)
             for i in range(24)]
    one = get_embedder("local", EmbeddingConfig(model="all-MiniLM-L6-v2", extra={"sessions": 1}))
    two = get_embedder("local", EmbeddingConfig(model="all-MiniLM-L6-v2", extra={"sessions": 2}))
    runtime = local._runtime(two.config)
    assert runtime.count == 2 and runtime.sessions.qsize() == 2 and local._threads(two.config) == (max(1, local.CORES // 2), 2)
    used: set[int] = set()
    original = runtime.session

    def watching():
        cm = original()
        session = cm.__enter__()
        used.add(id(session))
        import time as _time
        _time.sleep(0.01)  # hold it, so the other batch cannot take the same one
        return _Held(cm, session)

    runtime.session = watching
    try:
        vectors = two.embed_documents(texts)
    finally:
        runtime.session = original
    assert len(used) == 2 and runtime.sessions.qsize() == 2  # both ran, both returned
    assert np.allclose(vectors, one.embed_documents(texts), atol=1e-4)


class _Held:
    def __init__(self, cm, session):
        self.cm, self.session = cm, session

    def __enter__(self):
        return self.session

    def __exit__(self, *exc):
        return self.cm.__exit__(*exc)
