"""A per-process cache of vendor SDK clients.

Building an SDK client costs 25-65 ms here (each creates an HTTP client with its own TLS context and
connection pool), more than a local model call; adapters are built per request, so the clients they
wrap are shared instead. The SDK clients are thread-safe. The cache is bounded so rotating keys
cannot grow it without limit; an evicted client is left to the garbage collector, since a request
in flight may still be using it.
"""
from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from typing import Callable, TypeVar

T = TypeVar("T")
MAX_CLIENTS = 64

_CLIENTS: OrderedDict[tuple, object] = OrderedDict()
_LOCK = threading.Lock()


def client_key(vendor: str, config) -> tuple:
    """Everything that changes how a client talks to the vendor (LLMConfig or EmbeddingConfig)."""
    connection = {k: config.extra.get(k) for k in ("headers", "api_version", "retry_initial_delay", "retry_jitter")}
    # The pid: a client inherited through fork would share its pooled sockets with the parent.
    return (os.getpid(), vendor, config.api_key, config.base_url, float(config.timeout), int(config.max_retries),
            json.dumps(connection, sort_keys=True, default=str))


def shared_client(key: tuple, build: Callable[[], T]) -> T:
    with _LOCK:
        client = _CLIENTS.get(key)
        if client is not None:
            _CLIENTS.move_to_end(key)
            return client  # type: ignore[return-value]
    client = build()  # outside the lock: building is slow and may raise
    with _LOCK:
        client = _CLIENTS.setdefault(key, client)
        _CLIENTS.move_to_end(key)
        while len(_CLIENTS) > MAX_CLIENTS:
            _CLIENTS.popitem(last=False)
    return client  # type: ignore[return-value]
