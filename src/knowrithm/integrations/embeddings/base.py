"""The embedding interface every embedding adapter implements, and the registry."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EmbeddingConfig:
    model: str
    api_key: str | None = None
    base_url: str | None = None
    dimension: int | None = None
    batch_size: int = 32
    timeout: float = 60.0
    max_retries: int = 2
    extra: dict = field(default_factory=dict)


class EmbeddingError(Exception):
    def __init__(self, message: str, *, code: str = "EMBEDDING_ERROR", retryable: bool = False,
                 status: int | None = None):
        super().__init__(message)
        self.code, self.retryable, self.status = code, retryable, status


class EmbeddingAdapter:
    name: str = ""

    def __init__(self, config: EmbeddingConfig):
        self.config = config

    @property
    def model_key(self) -> str:
        """Stored on each chunk: vectors are only ever compared within one model key."""
        return f"{self.name}:{self.config.model}"

    @property
    def dimension(self) -> int | None:
        """Vector length when known up front (hosted models: the configured one)."""
        return self.config.dimension

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise NotImplementedError

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


_ADAPTERS: dict[str, type[EmbeddingAdapter]] = {}


def register(cls: type[EmbeddingAdapter]) -> type[EmbeddingAdapter]:
    _ADAPTERS[cls.name] = cls
    return cls


def embedder_names() -> list[str]:
    from . import load_all

    load_all()
    return sorted(_ADAPTERS)


def get_embedder(name: str, config: EmbeddingConfig) -> EmbeddingAdapter:
    from . import load_all

    load_all()
    try:
        return _ADAPTERS[name](config)
    except KeyError:
        raise EmbeddingError(f"Unknown embedding adapter '{name}'; known: {', '.join(sorted(_ADAPTERS))}",
                             code="UNKNOWN_PROVIDER")
