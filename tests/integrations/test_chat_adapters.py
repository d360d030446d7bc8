"""Each vendor's real SDK against a loopback server speaking that vendor's wire protocol."""
from __future__ import annotations

import pytest

from knowrithm.integrations.llm.base import ChatMessage, LLMConfig, LLMError, Passage, get_adapter
from knowrithm.integrations.llm.fallbacks import complete_with_fallbacks

from .protocol_servers import API_KEY, AnthropicServer, GeminiServer, OpenAIServer, count_words

VENDORS = {
    "openai": (OpenAIServer, "gpt-4o-mini"),
    "openai_compatible": (OpenAIServer, "llama3.1:8b"),
    "gemini": (GeminiServer, "gemini-2.5-flash"),
    "anthropic": (AnthropicServer, "claude-sonnet-4-5"),
}
MESSAGES = [ChatMessage("system", "You answer briefly."), ChatMessage("user", "What is the refund window?")]
PROMPT_WORDS = sum(count_words(m.content) for m in MESSAGES)


@pytest.fixture(params=sorted(VENDORS))
def vendor(request):
    server_cls, model = VENDORS[request.param]
    with server_cls(reply="Refunds are accepted within 30 days of purchase.") as server:
        yield request.param, server, model


def adapter(vendor, *, model=None, api_key=API_KEY, **overrides):
    name, server, default_model = vendor
    extra = {"retry_initial_delay": 0.01, "retry_jitter": 0}  # Gemini's SDK backoff; others use Retry-After
    config = LLMConfig(model=model or default_model, api_key=api_key, base_url=server.base_url,
                       max_retries=overrides.pop("max_retries", 2), timeout=overrides.pop("timeout", 10.0),
                       extra=extra)
    return get_adapter(name, config)


def test_complete_returns_the_text_and_token_usage(vendor):
    _, server, model = vendor
    completion = adapter(vendor).complete(MESSAGES)
    assert completion.text == server.reply
    assert completion.model == model
    assert completion.prompt_tokens == PROMPT_WORDS
    assert completion.completion_tokens == count_words(server.reply)
    assert completion.answered
    assert len(server.requests) == 1


def test_stream_yields_deltas_then_records_usage(vendor):
    _, server, _ = vendor
    llm = adapter(vendor)
    deltas = list(llm.stream(MESSAGES))
    assert len(deltas) == count_words(server.reply)  # the server streams word by word
    assert "".join(deltas) == server.reply
    assert llm.last_completion.text == server.reply
    assert llm.last_completion.prompt_tokens == PROMPT_WORDS
    assert llm.last_completion.completion_tokens == count_words(server.reply)


def test_a_wrong_key_is_an_auth_failure_that_is_not_retried(vendor):
    _, server, _ = vendor
    with pytest.raises(LLMError) as err:
        adapter(vendor, api_key="wrong-key").complete(MESSAGES)
    assert (err.value.code, err.value.status, err.value.retryable) == ("LLM_AUTH_FAILED", 401, False)
    assert len(server.requests) == 1


def test_rate_limits_and_server_errors_are_retried_then_succeed(vendor):
    _, server, _ = vendor
    server.fail_next(429, 503)
    assert adapter(vendor).complete(MESSAGES).text == server.reply
    assert len(server.requests) == 3


def test_streaming_is_retried_before_the_first_delta(vendor):
    _, server, _ = vendor
    server.fail_next(503)
    assert "".join(adapter(vendor).stream(MESSAGES)) == server.reply
    assert len(server.requests) == 2


def test_exhausted_retries_surface_as_a_retryable_error(vendor):
    _, server, _ = vendor
    server.fail_next(429, 429, 429)
    with pytest.raises(LLMError) as err:
        adapter(vendor, max_retries=2).complete(MESSAGES)
    assert (err.value.code, err.value.status, err.value.retryable) == ("LLM_RATE_LIMITED", 429, True)
    assert len(server.requests) == 3


def test_a_slow_model_times_out(vendor):
    _, server, model = vendor
    server.delay_model[model] = 2.0
    with pytest.raises(LLMError) as err:
        adapter(vendor, timeout=0.3, max_retries=0).complete(MESSAGES)
    assert (err.value.code, err.value.retryable) == ("LLM_TIMEOUT", True)


def test_the_fallback_model_answers_when_the_primary_is_down(vendor):
    _, server, model = vendor
    server.fail_model["primary-model"] = 503
    primary, backup = adapter(vendor, model="primary-model", max_retries=1), adapter(vendor)
    completion, used, failed = complete_with_fallbacks([primary, backup], MESSAGES)
    assert completion.text == server.reply
    assert used == f"{vendor[0]}:{model}"
    assert [(f.model, f.error.code) for f in failed] == [("primary-model", "LLM_UNAVAILABLE")]


def test_passages_reach_the_model_as_cited_sources(vendor):
    _, server, _ = vendor
    passages = [Passage(1, "Refund window: 30 days.", "policy.pdf"), Passage(2, "Shipping is free.", "faq.md")]
    adapter(vendor).complete(MESSAGES, passages=passages)
    sent = str(server.requests[0]["json"])
    assert "[Source 1] policy.pdf" in sent and "[Source 2] faq.md" in sent
    assert "Refund window: 30 days." in sent


def test_an_unreachable_server_is_a_retryable_failure(vendor):
    name, server, model = vendor
    url = server.base_url
    server.stop()
    config = LLMConfig(model=model, api_key=API_KEY, base_url=url, max_retries=0, timeout=5,
                       extra={"retry_initial_delay": 0.01, "retry_jitter": 0})
    with pytest.raises(LLMError) as err:
        get_adapter(name, config).complete(MESSAGES)
    assert (err.value.code, err.value.retryable) == ("LLM_UNREACHABLE", True)


# -- vendor specifics -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["openai", "gemini", "anthropic"])
def test_hosted_vendors_require_a_key(name):
    with pytest.raises(LLMError) as err:
        get_adapter(name, LLMConfig(model="m", api_key=None, base_url="http://127.0.0.1:9"))
    assert err.value.code == "LLM_AUTH_FAILED" and "no API key" in str(err.value)


def test_openai_compatible_servers_need_no_key_but_a_base_url(openai_server):
    openai_server.api_key = "not-needed"  # what the adapter sends when the operator gave no key
    llm = get_adapter("openai_compatible", LLMConfig(model="qwen2.5", base_url=openai_server.base_url))
    assert llm.complete(MESSAGES).text == openai_server.reply
    with pytest.raises(LLMError) as err:
        get_adapter("openai_compatible", LLMConfig(model="qwen2.5"))
    assert err.value.code == "LLM_BAD_CONFIG"


def test_azure_style_api_version_and_headers_are_sent(openai_server):
    config = LLMConfig(model="gpt-4o", api_key=API_KEY, base_url=openai_server.base_url,
                       extra={"api_version": "2024-10-21", "headers": {"api-key": "azure-key"}})
    get_adapter("openai_compatible", config).complete(MESSAGES)
    request = openai_server.requests[0]
    assert request["path"].endswith("?api-version=2024-10-21")
    assert request["headers"]["Api-Key"] == "azure-key"


def test_openai_streams_ask_for_usage(openai_server):
    llm = get_adapter("openai", LLMConfig(model="gpt-4o-mini", api_key=API_KEY, base_url=openai_server.base_url))
    list(llm.stream(MESSAGES))
    body = openai_server.requests[0]["json"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"][0] == {"role": "system", "content": "You answer briefly."}


def test_anthropic_gets_the_system_prompt_apart_and_alternating_turns(anthropic_server):
    llm = get_adapter("anthropic", LLMConfig(model="claude-haiku-4-5", api_key=API_KEY,
                                             base_url=anthropic_server.base_url, max_tokens=300))
    llm.complete([ChatMessage("system", "Be kind."), ChatMessage("assistant", "Hi!"),
                  ChatMessage("user", "One."), ChatMessage("user", "Two.")])
    body = anthropic_server.requests[0]["json"]
    assert body["system"] == "Be kind." and body["max_tokens"] == 300
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][-1]["content"] == "One.\n\nTwo."


def test_anthropic_overload_529_is_retried(anthropic_server):
    anthropic_server.fail_next(529)
    llm = get_adapter("anthropic", LLMConfig(model="claude-haiku-4-5", api_key=API_KEY,
                                             base_url=anthropic_server.base_url))
    assert llm.complete(MESSAGES).text == anthropic_server.reply
    assert len(anthropic_server.requests) == 2


def test_gemini_gets_a_system_instruction_and_model_role(gemini_server):
    llm = get_adapter("gemini", LLMConfig(model="gemini-2.5-flash", api_key=API_KEY,
                                          base_url=gemini_server.base_url, max_tokens=200))
    llm.complete([ChatMessage("system", "Be kind."), ChatMessage("user", "Hi"),
                  ChatMessage("assistant", "Hello"), ChatMessage("user", "Bye")])
    request = gemini_server.requests[0]
    body = request["json"]
    assert ":generateContent" in request["path"] and request["headers"]["X-Goog-Api-Key"] == API_KEY
    assert body["systemInstruction"]["parts"][0]["text"] == "Be kind."
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["generationConfig"]["maxOutputTokens"] == 200


def test_openai_uses_the_current_token_cap_and_skips_temperature_for_reasoning_models(openai_server):
    config = LLMConfig(model="gpt-5-mini", api_key=API_KEY, base_url=openai_server.base_url, max_tokens=50)
    get_adapter("openai", config).complete(MESSAGES)
    compat = LLMConfig(model="llama3.1", api_key=API_KEY, base_url=openai_server.base_url, max_tokens=50)
    get_adapter("openai_compatible", compat).complete(MESSAGES)
    reasoning, local = (r["json"] for r in openai_server.requests)
    assert reasoning["max_completion_tokens"] == 50 and "temperature" not in reasoning
    assert local["max_tokens"] == 50 and local["temperature"] == compat.temperature


def test_adapters_with_the_same_connection_share_one_sdk_client(openai_server):
    def build(key):
        return get_adapter("openai", LLMConfig(model="gpt-4o-mini", api_key=key, base_url=openai_server.base_url))

    assert build(API_KEY).client is build(API_KEY).client
    assert build(API_KEY).client is not build("other-key").client


def test_gemini_api_version_can_be_pinned(gemini_server):
    config = LLMConfig(model="gemini-2.5-flash", api_key=API_KEY, base_url=gemini_server.base_url,
                       extra={"api_version": "v1beta"})
    llm = get_adapter("gemini", config)
    assert "".join(llm.stream(MESSAGES)) == gemini_server.reply
    assert gemini_server.requests[0]["path"] == "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
