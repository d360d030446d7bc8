"""Hosted embedding models: OpenAI, OpenAI-compatible servers (Ollama, vLLM, LM Studio...) and Gemini.

The clients, retries and error mapping are the chat adapters' (same SDKs, same failure kinds); the
errors are re-raised as EmbeddingError with the same code family so the caller sees one vocabulary.
"""
from __future__ import annotations

import math

from ..llm.base import LLMError
from .base import EmbeddingAdapter, EmbeddingConfig, EmbeddingError, register


def _as_embedding_error(exc: Exception) -> Exception:
    if isinstance(exc, LLMError):
        code = exc.code.replace("LLM_", "EMBEDDING_", 1)
        return EmbeddingError(str(exc), code=code, retryable=exc.retryable, status=exc.status)
    return exc


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm else list(vector)


class _Batched(EmbeddingAdapter):
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        size = max(1, self.config.batch_size)
        out: list[list[float]] = []
        for start in range(0, len(texts), size):
            batch = [t if t.strip() else " " for t in texts[start:start + size]]  # APIs reject empty input
            try:
                vectors = self._embed_batch(batch)
            except Exception as exc:
                raise _as_embedding_error(exc) from exc
            if len(vectors) != len(batch):
                raise EmbeddingError(f"{self.name}: asked for {len(batch)} vectors, got {len(vectors)}",
                                     code="EMBEDDING_BAD_RESPONSE")
            out.extend(vectors)
        return out

    def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        raise NotImplementedError


@register
class OpenAIEmbedder(_Batched):
    name = "openai"
    key_required = True

    def __init__(self, config: EmbeddingConfig):
        super().__init__(config)
        from ..llm.openai_sdk import openai_client

        try:
            self.client = openai_client(config, vendor=self.name, key_required=self.key_required)
        except LLMError as exc:
            raise _as_embedding_error(exc) from exc

    def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        from ..llm.openai_sdk import map_openai_error

        params = {"model": self.config.model, "input": batch, "encoding_format": "float"}
        if self.config.dimension and self.config.extra.get("send_dimensions", self.name == "openai"):
            params["dimensions"] = self.config.dimension  # text-embedding-3-* can shorten vectors
        try:
            response = self.client.embeddings.create(**params)
        except Exception as exc:
            raise map_openai_error(exc, self.name, self.config.timeout) from exc
        return [item.embedding for item in sorted(response.data, key=lambda d: d.index)]


@register
class OpenAICompatibleEmbedder(OpenAIEmbedder):
    name = "openai_compatible"
    key_required = False

    def __init__(self, config: EmbeddingConfig):
        if not config.base_url:
            raise EmbeddingError("openai_compatible needs a base_url (e.g. http://localhost:11434/v1)",
                                 code="EMBEDDING_BAD_CONFIG")
        super().__init__(config)


@register
class GeminiEmbedder(_Batched):
    name = "gemini"

    def __init__(self, config: EmbeddingConfig):
        super().__init__(config)
        from ..llm.gemini_sdk import gemini_client

        try:
            self.client = gemini_client(config)
        except LLMError as exc:
            raise _as_embedding_error(exc) from exc

    def _embed(self, batch: list[str], task_type: str) -> list[list[float]]:
        from google.genai import types

        from ..llm.gemini_sdk import map_gemini_error

        config = types.EmbedContentConfig(task_type=task_type, output_dimensionality=self.config.dimension)
        try:
            response = self.client.models.embed_content(model=self.config.model, contents=batch, config=config)
        except Exception as exc:
            raise map_gemini_error(exc, self.config.timeout) from exc
        # Gemini only normalises full-length vectors; shortened ones (output_dimensionality) are not.
        return [_unit(e.values or []) for e in response.embeddings or []]

    def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        return self._embed(batch, "RETRIEVAL_DOCUMENT")

    def embed_query(self, text: str) -> list[float]:
        # Gemini embeds questions and documents asymmetrically; asking for the query kind helps recall.
        try:
            return self._embed([text or " "], "RETRIEVAL_QUERY")[0]
        except Exception as exc:
            raise _as_embedding_error(exc) from exc
