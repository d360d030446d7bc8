"""A per-process LRU of query vectors.

Chat visitors ask the same questions over and over (suggested questions, FAQs); each repeat cost a
model run (~5 ms CPU offline) or a round trip to a hosted provider (often 100 ms or more). A vector
depends only on the model and how it is reached, never on the API key, so that is the key.
"""
from __future__ import annotations

import json
import threading
from array import array
from collections import OrderedDict

from .base import EmbeddingAdapter

MAX_ENTRIES = 2048  # array('d') of 384-1536 floats: 3-12 KB each

_CACHE: OrderedDict[tuple, array] = OrderedDict()
_LOCK = threading.Lock()


def _key(embedder: EmbeddingAdapter, text: str) -> tuple:
    config = embedder.config
    return (embedder.name, config.model, config.base_url, config.dimension,
            json.dumps(config.extra, sort_keys=True, default=str), text)


def embed_query(embedder: EmbeddingAdapter, text: str) -> list[float]:
    """`embedder.embed_query(text)`, from the cache when this model embedded `text` recently."""
    key = _key(embedder, text)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return list(hit)
    vector = embedder.embed_query(text)  # outside the lock: slow, and may raise (nothing is cached then)
    with _LOCK:
        _CACHE[key] = array("d", vector)
        while len(_CACHE) > MAX_ENTRIES:
            _CACHE.popitem(last=False)
    return list(vector)
