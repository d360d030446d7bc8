"""`POST /agent/<id>/test`: one question through the agent's answer path (CONTRACT G12, D-23).

Same retrieval and prompt as a conversation (the conversation engine's `retrieve` and
`prompt`), then the agent's models from `runtime_for_settings` (primary, then fallbacks on
retryable failures). With no documents the offline extractive answerer says it does not
know. Configuration problems raise `ValidationFailed`, which fails the task with a
readable string error.
"""
from __future__ import annotations

import re
import time

from knowrithm.infra.errors import ApiError, ValidationFailed
from knowrithm.integrations.embeddings.base import EmbeddingError
from knowrithm.integrations.llm.base import ChatMessage, LLMError

from .models import Agent

DEFAULT_QUERY = "Hello! Who are you and what can you help me with?"
_CITATION = re.compile(r"\[Source\s+(\d+(?:\s*,\s*\d+)*)\]", re.IGNORECASE)


def system_prompt(agent: Agent) -> str:
    """The agent's own prompt, or one built from its name, description and personality."""
    if agent.system_prompt:
        return agent.system_prompt
    parts = [f"You are {agent.name}, an assistant."]
    if agent.description:
        parts.append(agent.description)
    traits = agent.personality_traits
    if isinstance(traits, dict) and traits:
        parts.append("Personality: " + ", ".join(f"{k}: {v}" for k, v in traits.items()))
    elif isinstance(traits, list) and traits:
        parts.append("Personality: " + ", ".join(map(str, traits)))
    elif isinstance(traits, str) and traits:
        parts.append("Personality: " + traits)
    if agent.languages:
        parts.append("Answer in the user's language when it is one of: " + ", ".join(agent.languages) + ".")
    parts.append("Answer only from the provided sources and cite them as [Source N]; say so when you do not know.")
    return " ".join(parts)


def cited_numbers(text: str) -> list[int]:
    numbers: set[int] = set()
    for group in _CITATION.findall(text or ""):
        numbers.update(int(n) for n in re.split(r"\s*,\s*", group))
    return sorted(numbers)


def _answer_path():
    """The conversation engine's retrieval and prompt, or None where that domain is absent."""
    try:
        from knowrithm.domains.conversations import engine
    except ImportError:
        return None
    return engine


def run_test(agent: Agent, settings, query: str | None) -> dict:
    from knowrithm.domains.llm.service import runtime_for_settings

    if settings is None:
        raise ValidationFailed("Agent has no LLM settings configured", code="AGENT_NOT_CONFIGURED")
    question = (query or "").strip() or DEFAULT_QUERY
    engine = _answer_path()
    try:
        adapters, _embedder = runtime_for_settings(settings)
    except ApiError:
        raise
    except (LLMError, EmbeddingError, RuntimeError) as exc:
        raise ValidationFailed(f"The agent's model configuration is not usable: {exc}", code="AGENT_NOT_CONFIGURED")
    if engine is not None:
        passages = engine.retrieve(agent, question)
        messages = engine.prompt(agent, [], question)
    else:
        passages = []
        messages = [ChatMessage("system", system_prompt(agent)), ChatMessage("user", question)]
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
    cited = cited_numbers(completion.text)
    citations = [{"source_number": p.number, "document_name": p.document_name, "url": p.url,
                  "cited": p.number in cited} for p in passages]
    all_sources = [f"Source {p.number}: {p.document_name}" + (f" ({p.url})" if p.url else "") for p in passages]
    warnings = [f"Cited [Source {n}] does not exist" for n in cited if n not in {p.number for p in passages}]
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
