"""The chat-completion interface every LLM adapter implements, and the adapter registry.

Adapters are one subclass each plus `register()`; the engine picks one by the provider's
`adapter` value (openai, openai_compatible, gemini, anthropic, extractive).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator


@dataclass
class ChatMessage:
    role: str  # system | user | assistant
    content: str


@dataclass
class Passage:
    """A retrieved source handed to the model (and to the offline extractive answerer)."""

    number: int
    content: str
    document_name: str
    url: str | None = None
    score: float = 0.0
    chunk_id: str | None = None
    document_id: str | None = None
    similarity: float | None = None  # cosine between question and passage (None: keyword-only hit)


@dataclass
class LLMConfig:
    model: str
    api_key: str | None = None
    base_url: str | None = None
    temperature: float = 0.5
    max_tokens: int | None = None
    timeout: float = 60.0
    max_retries: int = 2
    extra: dict = field(default_factory=dict)


@dataclass
class Completion:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # False when the model found nothing in the passages to answer with (the caller shows a
    # "don't know" reply and may log an unanswered question).
    answered: bool = True
    finish_reason: str | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class LLMError(Exception):
    """A vendor failure mapped into platform terms. `retryable` drives fallbacks."""

    def __init__(self, message: str, *, code: str = "LLM_ERROR", status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.code, self.status, self.retryable = code, status, retryable


class LLMAdapter:
    name: str = ""
    # Adapters that can let the model call a function (`call_tool`) say so here.
    supports_tools: bool = False

    def __init__(self, config: LLMConfig):
        self.config = config
        # Set when a stream() generator is exhausted: the streamed text with its token usage.
        self.last_completion: Completion | None = None

    def complete(self, messages: list[ChatMessage], *, passages: list[Passage] | None = None) -> Completion:
        raise NotImplementedError

    def stream(self, messages: list[ChatMessage], *, passages: list[Passage] | None = None) -> Iterator[str]:
        """Yields text deltas; the default falls back to one complete() call.

        After the last delta, `self.last_completion` holds the whole text and the token usage."""
        completion = self.complete(messages, passages=passages)
        self.last_completion = completion
        yield completion.text

    def test_connection(self) -> Completion:
        return self.complete([ChatMessage("user", "Reply with the single word: pong")])

    def call_tool(self, messages: list[ChatMessage], tools: list[dict]) -> tuple[str, dict] | None:
        """Offers `tools` (OpenAI function specs); (name, arguments) of the call the model makes, or None."""
        raise NotImplementedError


GROUNDING_INSTRUCTIONS = (
    "Answer the user's question using only the sources below. Cite the sources you use as [Source N]. "
    "If the sources do not contain the answer, say that you don't know."
)


def grounded_messages(messages: list[ChatMessage], passages: list[Passage] | None) -> list[ChatMessage]:
    """The conversation with the retrieved passages added as a system message, for generative models.

    Callers that build their own prompt pass `passages=None` and get their messages back unchanged."""
    if not passages:
        return list(messages)
    sources = "\n\n".join(
        f"[Source {p.number}] {p.document_name}{f' ({p.url})' if p.url else ''}\n{p.content}" for p in passages)
    context = ChatMessage("system", f"{GROUNDING_INSTRUCTIONS}\n\n{sources}")
    # After the agent's own system prompt, before the conversation.
    head = [m for m in messages if m.role == "system"]
    return head + [context] + [m for m in messages if m.role != "system"]


_ADAPTERS: dict[str, type[LLMAdapter]] = {}


def register(cls: type[LLMAdapter]) -> type[LLMAdapter]:
    _ADAPTERS[cls.name] = cls
    return cls


def adapter_names() -> list[str]:
    from . import load_all

    load_all()
    return sorted(_ADAPTERS)


def get_adapter(name: str, config: LLMConfig) -> LLMAdapter:
    from . import load_all

    load_all()

    try:
        return _ADAPTERS[name](config)
    except KeyError:
        raise LLMError(f"Unknown LLM adapter '{name}'; known: {', '.join(sorted(_ADAPTERS))}", code="UNKNOWN_PROVIDER")
