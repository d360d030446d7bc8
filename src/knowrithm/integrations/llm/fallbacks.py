"""Primary model first, then the settings' ordered fallbacks when it fails transiently.

Only retryable failures (timeouts, 429, 5xx, network) move on to the next model: an auth failure or
a bad request would fail the same way for the user on every retry and must surface to the operator.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from .base import ChatMessage, Completion, LLMAdapter, LLMError, Passage


@dataclass
class FailedAttempt:
    adapter: str
    model: str
    error: LLMError

    def as_dict(self) -> dict:
        return {"provider": self.adapter, "model": self.model, "code": self.error.code,
                "status": self.error.status, "message": str(self.error)}


def model_label(adapter: LLMAdapter) -> str:
    return f"{adapter.name}:{adapter.config.model}"


def complete_with_fallbacks(adapters: list[LLMAdapter], messages: list[ChatMessage],
                            passages: list[Passage] | None = None
                            ) -> tuple[Completion, str, list[FailedAttempt]]:
    """(completion, "adapter:model" that answered, the failed attempts before it).

    Raises the last LLMError when every model failed, or the first non-retryable one."""
    if not adapters:
        raise LLMError("No model configured", code="LLM_NOT_CONFIGURED")
    failed: list[FailedAttempt] = []
    for adapter in adapters:
        try:
            completion = adapter.complete(messages, passages=passages)
        except LLMError as exc:
            failed.append(FailedAttempt(adapter.name, adapter.config.model, exc))
            if not exc.retryable:
                raise
            continue
        return completion, model_label(adapter), failed
    raise failed[-1].error


class FallbackStream:
    """Streams from the first model that starts answering; `used_model`/`completion` are set at the end.

    A model may be abandoned only before its first delta: once text reached the user, switching
    models would splice two answers together, so a mid-stream failure is raised instead."""

    def __init__(self, adapters: list[LLMAdapter], messages: list[ChatMessage],
                 passages: list[Passage] | None = None):
        self.adapters, self.messages, self.passages = adapters, messages, passages
        self.failed: list[FailedAttempt] = []
        self.used_model: str | None = None
        self.completion: Completion | None = None

    def __iter__(self) -> Iterator[str]:
        if not self.adapters:
            raise LLMError("No model configured", code="LLM_NOT_CONFIGURED")
        for adapter in self.adapters:
            started = False
            try:
                for delta in adapter.stream(self.messages, passages=self.passages):
                    started = True
                    self.used_model = model_label(adapter)
                    yield delta
            except LLMError as exc:
                self.failed.append(FailedAttempt(adapter.name, adapter.config.model, exc))
                if started or not exc.retryable:
                    raise
                continue
            self.used_model = model_label(adapter)
            self.completion = adapter.last_completion
            return
        raise self.failed[-1].error
