"""`POST /settings/test/<id>`: one real round trip through the chat adapter and the embedder."""
from __future__ import annotations

import logging
import time

from knowrithm.integrations.embeddings.base import EmbeddingError
from knowrithm.integrations.llm.base import ChatMessage, LLMError

from .models import LLMSettings
from .runtime import chat_adapters, embedder_for

log = logging.getLogger(__name__)

# A connection test answers within the SDK's patience: one retry, short timeouts.
TEST_LIMITS = {"timeout": 20.0, "max_retries": 1}


def test_settings(row: LLMSettings, overrides: dict | None = None) -> dict:
    """One real round trip through the chat adapter and the embedder; failures become a report.

    Vendor errors (bad key, unreachable server) are the answer to "does this work?", so they
    are returned as `status: "failed"` with the vendor's message rather than raised.
    """
    overrides = overrides or {}
    checks: dict[str, dict] = {}
    started = time.perf_counter()
    try:
        label, adapter = chat_adapters(row, overrides, limits=TEST_LIMITS)[0]
        if overrides.get("prompt"):
            completion = adapter.complete([ChatMessage("user", overrides["prompt"])])
        else:
            completion = adapter.test_connection()
        checks["llm"] = {"status": "success", "model": completion.model or label, "response": completion.text,
                         "tokens": completion.total_tokens}
    except LLMError as exc:
        checks["llm"] = {"status": "failed", "error": str(exc), "error_code": exc.code, "http_status": exc.status}
    except Exception as exc:  # noqa: BLE001 - an SDK's unexpected error is still a failed test, not a 500
        log.warning("settings test: chat adapter error", exc_info=True)
        checks["llm"] = {"status": "failed", "error": f"{exc.__class__.__name__}: {exc}", "error_code": "LLM_ERROR"}
    checks["llm"]["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    started = time.perf_counter()
    try:
        vector = embedder_for(row, limits=TEST_LIMITS).embed_query("Knowrithm connection test")
        checks["embedding"] = {"status": "success", "model": row.embedding_model.name, "dimension": len(vector)}
    except EmbeddingError as exc:
        checks["embedding"] = {"status": "failed", "error": str(exc), "error_code": exc.code}
    except Exception as exc:  # noqa: BLE001
        log.warning("settings test: embedder error", exc_info=True)
        checks["embedding"] = {"status": "failed", "error": f"{exc.__class__.__name__}: {exc}",
                               "error_code": "EMBEDDING_ERROR"}
    checks["embedding"]["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    failed = [name for name, check in checks.items() if check["status"] != "success"]
    llm = checks["llm"]
    return {
        "status": "failed" if failed else "success",
        "message": ("Connection test failed: " + "; ".join(f"{n}: {checks[n]['error']}" for n in failed))
        if failed else "Connection test succeeded",
        "settings_id": str(row.id),
        "response": llm.get("response"),
        "latency_ms": llm["latency_ms"], "latency": round(llm["latency_ms"] / 1000, 3),
        "auth_status": "failed" if llm.get("error_code") == "LLM_AUTH_FAILED" else
                       ("ok" if llm["status"] == "success" else "unknown"),
        "llm": llm, "embedding": checks["embedding"],
        "provider": row.llm_provider.label, "model": row.llm_model.name,
    }
