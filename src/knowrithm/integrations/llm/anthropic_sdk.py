"""Anthropic Claude through the official `anthropic` SDK (Messages API).

The SDK retries 408/409/429/5xx and 529 (overloaded) with backoff and honours Retry-After.
Claude takes the system prompt apart from the turns, requires `max_tokens`, and wants turns that
alternate starting with the user, so the conversation is reshaped accordingly. Temperature is only
sent when `extra["send_temperature"]` is set (see `_params`).
"""
from __future__ import annotations

from typing import Iterator

from . import errors
from .clients import client_key, shared_client
from .base import ChatMessage, Completion, LLMAdapter, LLMConfig, Passage, grounded_messages, register

DEFAULT_MAX_TOKENS = 1024


def _map_error(exc: Exception, timeout: float) -> Exception:
    import anthropic

    if isinstance(exc, anthropic.APITimeoutError):
        return errors.timeout("anthropic", timeout)
    if isinstance(exc, anthropic.APIConnectionError):
        return errors.unreachable("anthropic", str(exc.__cause__ or exc))
    if isinstance(exc, anthropic.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        inner = body.get("error") if isinstance(body.get("error"), dict) else {}
        return errors.from_status("anthropic", exc.status_code, inner.get("message") or exc.message)
    if isinstance(exc, anthropic.AnthropicError):
        return errors.from_status("anthropic", None, str(exc))
    return exc


def split_system(messages: list[ChatMessage]) -> tuple[str, list[dict]]:
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    turns: list[dict] = []
    for m in messages:
        if m.role == "system":
            continue
        role = "assistant" if m.role == "assistant" else "user"
        if turns and turns[-1]["role"] == role:  # merge, the API rejects two turns in a row
            turns[-1]["content"] += "\n\n" + m.content
        else:
            turns.append({"role": role, "content": m.content})
    if turns and turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": "(conversation continues)"})
    return system, turns


@register
class AnthropicChat(LLMAdapter):
    name = "anthropic"

    def __init__(self, config: LLMConfig):
        super().__init__(config)
        import anthropic

        if not config.api_key:
            raise errors.missing_key(self.name)
        self.client = shared_client(client_key(self.name, config), lambda: anthropic.Anthropic(
            api_key=config.api_key, base_url=config.base_url or None, timeout=config.timeout,
            max_retries=config.max_retries, default_headers=config.extra.get("headers")))

    def _params(self, messages, passages) -> dict:
        system, turns = split_system(grounded_messages(messages, passages))
        params = {"model": self.config.model, "messages": turns,
                  "max_tokens": self.config.max_tokens or DEFAULT_MAX_TOKENS}
        if system:
            params["system"] = system
        if self.config.extra.get("send_temperature"):
            # anthropic 2.x dropped `temperature` from create() (current Claude models fix sampling);
            # older models still take it as a body field.
            params["extra_body"] = {"temperature": self.config.temperature}
        return params

    def complete(self, messages: list[ChatMessage], *, passages: list[Passage] | None = None) -> Completion:
        try:
            response = self.client.messages.create(**self._params(messages, passages))
        except Exception as exc:
            raise _map_error(exc, self.config.timeout) from exc
        text = "".join(block.text for block in response.content if getattr(block, "type", "") == "text")
        return Completion(text, response.model or self.config.model, response.usage.input_tokens,
                          response.usage.output_tokens, finish_reason=response.stop_reason)

    def stream(self, messages: list[ChatMessage], *, passages: list[Passage] | None = None) -> Iterator[str]:
        parts: list[str] = []
        model, prompt_tokens, completion_tokens, finish = self.config.model, 0, 0, None
        try:
            for event in self.client.messages.create(stream=True, **self._params(messages, passages)):
                if event.type == "message_start":
                    model = event.message.model or model
                    prompt_tokens = event.message.usage.input_tokens or 0
                    completion_tokens = event.message.usage.output_tokens or 0
                elif event.type == "content_block_delta" and getattr(event.delta, "type", "") == "text_delta":
                    parts.append(event.delta.text)
                    yield event.delta.text
                elif event.type == "message_delta":
                    completion_tokens = event.usage.output_tokens or completion_tokens
                    finish = event.delta.stop_reason or finish
        except Exception as exc:
            raise _map_error(exc, self.config.timeout) from exc
        self.last_completion = Completion("".join(parts), model, prompt_tokens, completion_tokens,
                                          finish_reason=finish)
