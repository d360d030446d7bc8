"""Google Gemini through the official `google-genai` SDK (Gemini Developer API).

The caller passes the platform default key (`GEMINI_API_KEY`, read in config.py) when the company
has none. Retries use the SDK's own tenacity policy (429/408/5xx, exponential backoff with jitter);
`extra["retry_initial_delay"]` and `extra["retry_jitter"]` tune it. `base_url` points the SDK at a
proxy or, in tests, at a loopback server.
"""
from __future__ import annotations

from typing import Iterator

from . import errors
from .clients import client_key, shared_client
from .base import ChatMessage, Completion, LLMAdapter, LLMConfig, Passage, grounded_messages, register


def gemini_client(config, *, vendor: str = "gemini"):
    """A `genai.Client` built from an LLMConfig or EmbeddingConfig."""
    from google import genai
    from google.genai import types

    if not config.api_key:
        raise errors.missing_key(vendor)
    retry = types.HttpRetryOptions(
        attempts=config.max_retries + 1,
        initial_delay=config.extra.get("retry_initial_delay", 1.0),
        jitter=config.extra.get("retry_jitter", 1.0),
    )
    options = types.HttpOptions(timeout=int(config.timeout * 1000), retry_options=retry,
                                base_url=config.base_url or None, api_version=config.extra.get("api_version"),
                                headers=config.extra.get("headers"))
    return shared_client(client_key("gemini", config), lambda: genai.Client(api_key=config.api_key,
                                                                           http_options=options))


def map_gemini_error(exc: Exception, timeout: float, vendor: str = "gemini") -> Exception:
    from google.genai import errors as genai_errors

    if isinstance(exc, genai_errors.APIError):
        status = exc.code if isinstance(exc.code, int) else None
        if status == 400 and "API key" in (exc.message or ""):
            status = 401  # Gemini reports a bad key as 400 INVALID_ARGUMENT "API key not valid"
        return errors.from_status(vendor, status, exc.message or str(exc))
    # The SDK runs on httpx or its fork httpx2 depending on the version: match the transport errors by name.
    kinds = {cls.__name__ for cls in type(exc).__mro__}
    if "TimeoutException" in kinds:
        return errors.timeout(vendor, timeout)
    if "TransportError" in kinds:
        return errors.unreachable(vendor, str(exc))
    return exc


def _contents(messages: list[ChatMessage]) -> tuple[str | None, list[dict]]:
    system = "\n\n".join(m.content for m in messages if m.role == "system") or None
    contents = [{"role": "model" if m.role == "assistant" else "user", "parts": [{"text": m.content}]}
                for m in messages if m.role != "system"]
    return system, contents


@register
class GeminiChat(LLMAdapter):
    name = "gemini"

    def __init__(self, config: LLMConfig):
        super().__init__(config)
        self.client = gemini_client(config)

    def _request(self, messages, passages) -> dict:
        from google.genai import types

        system, contents = _contents(grounded_messages(messages, passages))
        config = types.GenerateContentConfig(system_instruction=system, temperature=self.config.temperature,
                                             max_output_tokens=self.config.max_tokens)
        return {"model": self.config.model, "contents": contents, "config": config}

    @staticmethod
    def _usage(response) -> tuple[int, int]:
        meta = getattr(response, "usage_metadata", None)
        if not meta:
            return 0, 0
        return meta.prompt_token_count or 0, meta.candidates_token_count or 0

    @staticmethod
    def _text(response) -> str:
        # `response.text` warns and returns None on non-text parts; only the text parts matter here.
        out = []
        for candidate in (response.candidates or [])[:1]:
            for part in (candidate.content.parts if candidate.content and candidate.content.parts else []):
                if part.text and not part.thought:
                    out.append(part.text)
        return "".join(out)

    @staticmethod
    def _finish(response) -> str | None:
        candidate = (response.candidates or [None])[0]
        reason = getattr(candidate, "finish_reason", None)
        return getattr(reason, "value", reason)

    def complete(self, messages: list[ChatMessage], *, passages: list[Passage] | None = None) -> Completion:
        try:
            response = self.client.models.generate_content(**self._request(messages, passages))
        except Exception as exc:
            raise map_gemini_error(exc, self.config.timeout) from exc
        prompt, completion = self._usage(response)
        return Completion(self._text(response), response.model_version or self.config.model, prompt, completion,
                          finish_reason=self._finish(response))

    def stream(self, messages: list[ChatMessage], *, passages: list[Passage] | None = None) -> Iterator[str]:
        parts: list[str] = []
        model, usage, finish = self.config.model, (0, 0), None
        try:
            for chunk in self.client.models.generate_content_stream(**self._request(messages, passages)):
                model = chunk.model_version or model
                usage = self._usage(chunk) if chunk.usage_metadata else usage
                finish = self._finish(chunk) or finish
                text = self._text(chunk)
                if text:
                    parts.append(text)
                    yield text
        except Exception as exc:
            raise map_gemini_error(exc, self.config.timeout) from exc
        self.last_completion = Completion("".join(parts), model, usage[0], usage[1], finish_reason=finish)
