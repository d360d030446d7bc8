"""`POST /agent/<id>/test`: one question through the agent's answer path, in test mode.

It is the conversation engine without a conversation: the engine's `retrieve`, `prompt`
and `citations`, then the agent's models from `runtime_for_settings` (primary, then
fallbacks on retryable failures), and nothing stored. With no documents the offline
extractive answerer says it does not know. Configuration problems raise
`ValidationFailed`, which fails the task with a readable string error.
"""
from __future__ import annotations

import time

from knowrithm.domains.agents.models import Agent
from knowrithm.domains.llm.service import runtime_for_settings
from knowrithm.infra.errors import ApiError, ValidationFailed
from knowrithm.integrations.embeddings.base import EmbeddingError
from knowrithm.integrations.llm.base import LLMError

from . import engine

DEFAULT_QUERY = "Hello! Who are you and what can you help me with?"


def run_test(agent: Agent, settings, query: str | None) -> dict:
    if settings is None:
        raise ValidationFailed("Agent has no LLM settings configured", code="AGENT_NOT_CONFIGURED")
    question = (query or "").strip() or DEFAULT_QUERY
    try:
        adapters, _embedder = runtime_for_settings(settings)
    except ApiError:
        raise
    except (LLMError, EmbeddingError, RuntimeError) as exc:
        raise ValidationFailed(f"The agent's model configuration is not usable: {exc}", code="AGENT_NOT_CONFIGURED")
    passages = engine.retrieve(agent, question)
    messages = engine.prompt(agent, [], question)
    started, errors = time.perf_counter(), []
    for label, adapter in adapters:
        try:
            completion = adapter.complete(messages, passages=passages)
        except LLMError as exc:
            errors.append(f"{label}: {exc}")
            if exc.retryable:
                continue  # the next fallback model answers
            break
        return _result(agent, settings, question, completion, passages, time.perf_counter() - started, label)
    raise ValidationFailed("The agent's model failed to answer: " + "; ".join(errors), code="AGENT_TEST_FAILED")


def _result(agent, settings, question, completion, passages, elapsed, label) -> dict:
    cited, warnings = engine.citations(completion.text, passages)
    citations, all_sources = engine.source_entries(passages, cited)
    model = completion.model or label
    data = {
        "agent": {"id": str(agent.id), "name": agent.name, "status": agent.status},
        "query": question, "response": completion.text, "citations": citations,
        "llm_config": {"provider": settings.llm_provider.label, "provider_value": settings.llm_provider.value,
                       "model": model, "temperature": settings.llm_temperature},
        "metadata": {"all_sources": all_sources, "cited_sources": cited, "warnings": warnings,
                     "answered": getattr(completion, "answered", None),
                     "tokens_used": completion.total_tokens, "processing_time": round(elapsed, 4),
                     "model_used": model},
    }
    return {"status": "success", "http_status": 200, "message": "Agent test completed",
            "response": completion.text, "data": data}
