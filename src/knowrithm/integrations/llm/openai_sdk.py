"""OpenAI and every OpenAI-compatible server (Ollama, vLLM, LM Studio, llama.cpp, Azure OpenAI).

One adapter over the official `openai` SDK; the compatible variant only differs in needing a base
URL and not needing a key. The SDK retries 408/409/429/5xx with exponential backoff and honours
Retry-After, so `max_retries` is handed to it rather than re-implemented here.

Extras: `api_version` (Azure: sent as the `api-version` query parameter), `headers` (e.g. Azure's
`api-key`), `stream_usage` (False for old servers that reject `stream_options`), `omit_temperature`
(automatic for OpenAI's o-series and gpt-5 models, which reject it).
"""
from __future__ import annotations

import json
from typing import Iterator

from . import errors
from .clients import client_key, shared_client
from .base import ChatMessage, Completion, LLMAdapter, LLMConfig, Passage, grounded_messages, register

# Local servers ignore the key, but the SDK refuses to start without one.
_NO_KEY = "not-needed"


def openai_client(config, *, vendor: str, key_required: bool):
    """An `openai.OpenAI` built from an LLMConfig or EmbeddingConfig (same field names)."""
    import openai

    if not config.api_key and key_required:
        raise errors.missing_key(vendor)
    query = {"api-version": config.extra["api_version"]} if config.extra.get("api_version") else None
    return shared_client(client_key("openai", config), lambda: openai.OpenAI(
        api_key=config.api_key or _NO_KEY, base_url=config.base_url or None, timeout=config.timeout,
        max_retries=config.max_retries, default_headers=config.extra.get("headers"), default_query=query))


def map_openai_error(exc: Exception, vendor: str, timeout: float) -> Exception:
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return errors.timeout(vendor, timeout)
    if isinstance(exc, openai.APIConnectionError):
        return errors.unreachable(vendor, str(exc.__cause__ or exc))
    if isinstance(exc, openai.APIStatusError):
        return errors.from_status(vendor, exc.status_code, _error_message(exc.body) or exc.message)
    if isinstance(exc, openai.OpenAIError):
        return errors.from_status(vendor, None, str(exc))
    return exc


def _error_message(body) -> str | None:
    """OpenAI's `{"error": {"message": ...}}`; compatible servers sometimes send `{"error": "..."}`."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return inner.get("message")
        return str(inner) if inner else None
    return None


def _fixed_sampling(adapter: str, model: str) -> bool:
    """OpenAI's reasoning families reject any temperature but the default."""
    return adapter == "openai" and model.lower().startswith(("o1", "o3", "o4", "gpt-5"))


def _wire_messages(messages: list[ChatMessage]) -> list[dict]:
    return [{"role": m.role, "content": m.content} for m in messages]


@register
class OpenAIChat(LLMAdapter):
    name = "openai"
    key_required = True

    def __init__(self, config: LLMConfig):
        super().__init__(config)
        self.client = openai_client(config, vendor=self.name, key_required=self.key_required)

    # OpenAI's own API renamed the output cap (reasoning models reject `max_tokens`); most compatible
    # servers only know the old name.
    max_tokens_param = "max_completion_tokens"

    def _params(self, messages, passages) -> dict:
        params = {"model": self.config.model, "messages": _wire_messages(grounded_messages(messages, passages))}
        if not self.config.extra.get("omit_temperature", _fixed_sampling(self.name, self.config.model)):
            params["temperature"] = self.config.temperature
        if self.config.max_tokens:
            params[self.max_tokens_param] = self.config.max_tokens
        return params

    def complete(self, messages: list[ChatMessage], *, passages: list[Passage] | None = None) -> Completion:
        try:
            response = self.client.chat.completions.create(**self._params(messages, passages))
        except Exception as exc:
            raise map_openai_error(exc, self.name, self.config.timeout) from exc
        choice = response.choices[0] if response.choices else None
        usage = response.usage
        return Completion(text=(choice.message.content or "") if choice else "",
                          model=response.model or self.config.model,
                          prompt_tokens=usage.prompt_tokens if usage else 0,
                          completion_tokens=usage.completion_tokens if usage else 0,
                          finish_reason=choice.finish_reason if choice else None)

    supports_tools = True

    def call_tool(self, messages: list[ChatMessage], tools: list[dict]) -> tuple[str, dict] | None:
        params = {**self._params(messages, None), "tools": tools, "tool_choice": "auto"}
        try:
            response = self.client.chat.completions.create(**params)
        except Exception as exc:
            raise map_openai_error(exc, self.name, self.config.timeout) from exc
        choice = response.choices[0] if response.choices else None
        calls = (choice.message.tool_calls or []) if choice and choice.message else []
        if not calls:
            return None
        try:
            arguments = json.loads(calls[0].function.arguments or "{}")
        except ValueError:
            raise errors.LLMError("The model's tool call arguments are not JSON", code="LLM_BAD_RESPONSE") from None
        return calls[0].function.name, arguments if isinstance(arguments, dict) else {}

    def stream(self, messages: list[ChatMessage], *, passages: list[Passage] | None = None) -> Iterator[str]:
        params = self._params(messages, passages)
        if self.config.extra.get("stream_usage", True):
            params["stream_options"] = {"include_usage": True}
        parts: list[str] = []
        model, usage, finish = self.config.model, None, None
        try:
            for chunk in self.client.chat.completions.create(stream=True, **params):
                model = chunk.model or model
                usage = chunk.usage or usage  # the last chunk (empty choices) carries it
                for choice in chunk.choices:
                    finish = choice.finish_reason or finish
                    if choice.delta and choice.delta.content:
                        parts.append(choice.delta.content)
                        yield choice.delta.content
        except Exception as exc:
            raise map_openai_error(exc, self.name, self.config.timeout) from exc
        self.last_completion = Completion("".join(parts), model, usage.prompt_tokens if usage else 0,
                                          usage.completion_tokens if usage else 0, finish_reason=finish)


@register
class OpenAICompatibleChat(OpenAIChat):
    name = "openai_compatible"
    key_required = False
    max_tokens_param = "max_tokens"

    def __init__(self, config: LLMConfig):
        if not config.base_url:
            raise errors.LLMError("openai_compatible needs a base_url (e.g. http://localhost:11434/v1)",
                                  code="LLM_BAD_CONFIG")
        super().__init__(config)
