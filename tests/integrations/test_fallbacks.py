"""Primary then fallbacks across vendors: which model answered, and when not to fall back."""
from __future__ import annotations

import pytest

from knowrithm.integrations.llm.base import ChatMessage, LLMConfig, LLMError, Passage, get_adapter
from knowrithm.integrations.llm.fallbacks import FallbackStream, complete_with_fallbacks

from .protocol_servers import API_KEY

MESSAGES = [ChatMessage("user", "How long do refunds take?")]
PASSAGES = [Passage(1, "Refunds are processed within 5 business days.", "policy.pdf")]


def openai(server, model="gpt-4o-mini", **kw):
    return get_adapter("openai", LLMConfig(model=model, api_key=kw.pop("api_key", API_KEY),
                                           base_url=server.base_url, max_retries=1, **kw))


def anthropic(server, model="claude-haiku-4-5"):
    return get_adapter("anthropic", LLMConfig(model=model, api_key=API_KEY, base_url=server.base_url,
                                              max_retries=1))


def test_a_second_vendor_answers_when_the_first_is_down(openai_server, anthropic_server):
    openai_server.fail_model["gpt-4o-mini"] = 503
    anthropic_server.reply = "Five business days."
    completion, used, failed = complete_with_fallbacks([openai(openai_server), anthropic(anthropic_server)],
                                                       MESSAGES, PASSAGES)
    assert (completion.text, used) == ("Five business days.", "anthropic:claude-haiku-4-5")
    assert [f.as_dict()["code"] for f in failed] == ["LLM_UNAVAILABLE"]
    assert len(openai_server.requests) == 2  # the SDK's own retry happened before falling back


def test_the_offline_answerer_is_a_last_resort(openai_server):
    openai_server.fail_model["gpt-4o-mini"] = 429
    extractive = get_adapter("extractive", LLMConfig(model="extractive-v1"))
    completion, used, failed = complete_with_fallbacks([openai(openai_server), extractive], MESSAGES, PASSAGES)
    assert used == "extractive:extractive-v1" and completion.answered
    assert "[Source 1]" in completion.text
    assert failed[0].error.code == "LLM_RATE_LIMITED"


def test_a_timeout_moves_on_to_the_fallback(openai_server):
    openai_server.delay_model["gpt-slow"] = 2.0
    slow = get_adapter("openai", LLMConfig(model="gpt-slow", api_key=API_KEY, base_url=openai_server.base_url,
                                           timeout=0.3, max_retries=0))
    completion, used, failed = complete_with_fallbacks([slow, openai(openai_server)], MESSAGES)
    assert used == "openai:gpt-4o-mini" and failed[0].error.code == "LLM_TIMEOUT"


def test_an_auth_failure_is_not_hidden_by_a_fallback(openai_server, anthropic_server):
    with pytest.raises(LLMError) as err:
        complete_with_fallbacks([openai(openai_server, api_key="wrong"), anthropic(anthropic_server)], MESSAGES)
    assert err.value.code == "LLM_AUTH_FAILED"
    assert anthropic_server.requests == []


def test_when_every_model_fails_the_last_error_is_raised(openai_server):
    openai_server.fail_model["a"] = 503
    openai_server.fail_model["b"] = 429
    with pytest.raises(LLMError) as err:
        complete_with_fallbacks([openai(openai_server, "a"), openai(openai_server, "b")], MESSAGES)
    assert err.value.code == "LLM_RATE_LIMITED"
    with pytest.raises(LLMError) as err:
        complete_with_fallbacks([], MESSAGES)
    assert err.value.code == "LLM_NOT_CONFIGURED"


def test_streaming_falls_back_before_the_first_delta(openai_server, gemini_server):
    openai_server.fail_model["gpt-4o-mini"] = 503
    gemini = get_adapter("gemini", LLMConfig(model="gemini-2.5-flash", api_key=API_KEY,
                                             base_url=gemini_server.base_url, max_retries=0))
    stream = FallbackStream([openai(openai_server), gemini], MESSAGES)
    assert "".join(stream) == gemini_server.reply
    assert stream.used_model == "gemini:gemini-2.5-flash"
    assert stream.completion.completion_tokens > 0
    assert [f.error.code for f in stream.failed] == ["LLM_UNAVAILABLE"]
