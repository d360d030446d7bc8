"""The platform's provider/model catalog as data (seeded by `seed.py`).

Prices are USD per million tokens (list prices at the time of writing); context windows are
in tokens. `adapter` names the integration that talks to the provider (`integrations/llm`
and `integrations/embeddings`); the offline provider uses `local`, whose chat side is the
extractive answerer.
"""
from __future__ import annotations

LOCAL_PROVIDER = "knowrithm"
LOCAL_LLM_MODEL = "extractive"
LOCAL_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


def _llm(name, display, ctx, inp, out, *, recommended=False, vision=False, tools=True, desc=None):
    return {"name": name, "display_name": display, "model_type": "llm", "context_window": ctx,
            "input_price": inp, "output_price": out, "is_recommended": recommended,
            "supports_vision": vision, "supports_function_calling": tools, "description": desc}


def _emb(name, display, ctx, dim, price, *, recommended=False, desc=None):
    return {"name": name, "display_name": display, "model_type": "embedding", "context_window": ctx,
            "embedding_dimension": dim, "input_price": price, "output_price": None,
            "is_recommended": recommended, "supports_streaming": False, "description": desc}


PROVIDERS: list[dict] = [
    {
        "value": LOCAL_PROVIDER, "label": "Knowrithm Local", "provider_type": "both", "adapter": "local",
        "description": "Offline defaults that need no network or key: an embedding model shipped with the "
                       "platform and an extractive answerer that quotes retrieved passages with [Source N] "
                       "citations (it does not generate free text).",
        "default_base_url": None, "documentation_url": "https://github.com/knowrithm/knowrithm#offline-models",
        "pricing_tier": "free", "requires_api_key": False, "requires_base_url": False, "is_featured": True,
        "tags": ["offline", "default", "self-hosted"],
        "models": [
            _llm(LOCAL_LLM_MODEL, "Extractive answerer (offline)", None, 0.0, 0.0, recommended=True, tools=False,
                 desc="Composes a grounded answer from the retrieved passages, quoting them with citations."),
            _emb(LOCAL_EMBEDDING_MODEL, "all-MiniLM-L6-v2 (offline, int8 ONNX)", 256, 384, 0.0, recommended=True,
                 desc="Sentence embedding model whose weights ship inside a Python package."),
        ],
    },
    {
        "value": "openai", "label": "OpenAI", "provider_type": "both", "adapter": "openai",
        "description": "OpenAI GPT chat models and text-embedding-3 models.",
        "default_base_url": "https://api.openai.com/v1",
        "documentation_url": "https://platform.openai.com/docs/models",
        "pricing_tier": "mid", "requires_api_key": True, "requires_base_url": False, "is_featured": True,
        "tags": ["hosted"],
        "models": [
            _llm("gpt-4o", "GPT-4o", 128000, 2.50, 10.00, vision=True),
            _llm("gpt-4o-mini", "GPT-4o mini", 128000, 0.15, 0.60, recommended=True, vision=True),
            _llm("gpt-4.1", "GPT-4.1", 1047576, 2.00, 8.00, vision=True),
            _llm("gpt-4.1-mini", "GPT-4.1 mini", 1047576, 0.40, 1.60, vision=True),
            _emb("text-embedding-3-small", "text-embedding-3-small", 8191, 1536, 0.02, recommended=True),
            _emb("text-embedding-3-large", "text-embedding-3-large", 8191, 3072, 0.13),
        ],
    },
    {
        "value": "gemini", "label": "Google Gemini", "provider_type": "both", "adapter": "gemini",
        "description": "Google Gemini models through the Gemini API (GEMINI_API_KEY is the platform default key).",
        "default_base_url": None, "documentation_url": "https://ai.google.dev/gemini-api/docs/models",
        "pricing_tier": "budget", "requires_api_key": True, "requires_base_url": False, "is_featured": True,
        "tags": ["hosted"],
        "models": [
            _llm("gemini-2.5-flash", "Gemini 2.5 Flash", 1048576, 0.30, 2.50, recommended=True, vision=True),
            _llm("gemini-2.5-pro", "Gemini 2.5 Pro", 1048576, 1.25, 10.00, vision=True),
            _llm("gemini-2.0-flash", "Gemini 2.0 Flash", 1048576, 0.10, 0.40, vision=True),
            _emb("text-embedding-004", "text-embedding-004", 2048, 768, 0.0, recommended=True),
        ],
    },
    {
        "value": "anthropic", "label": "Anthropic", "provider_type": "llm", "adapter": "anthropic",
        "description": "Anthropic Claude chat models (no embedding models).",
        "default_base_url": "https://api.anthropic.com",
        "documentation_url": "https://docs.anthropic.com/en/docs/about-claude/models",
        "pricing_tier": "premium", "requires_api_key": True, "requires_base_url": False, "is_featured": True,
        "tags": ["hosted"],
        "models": [
            _llm("claude-sonnet-4-5", "Claude Sonnet 4.5", 200000, 3.00, 15.00, recommended=True, vision=True),
            _llm("claude-haiku-4-5", "Claude Haiku 4.5", 200000, 1.00, 5.00, vision=True),
            _llm("claude-opus-4-1", "Claude Opus 4.1", 200000, 15.00, 75.00, vision=True),
        ],
    },
    {
        "value": "ollama", "label": "Ollama", "provider_type": "both", "adapter": "openai_compatible",
        "description": "Self-hosted models served by Ollama's OpenAI-compatible API.",
        "default_base_url": "http://127.0.0.1:11434/v1",
        "documentation_url": "https://github.com/ollama/ollama/blob/main/docs/openai.md",
        "pricing_tier": "free", "requires_api_key": False, "requires_base_url": False, "is_featured": False,
        "tags": ["self-hosted", "openai-compatible"],
        "models": [
            _llm("llama3.1", "Llama 3.1 8B", 131072, 0.0, 0.0, recommended=True),
            _llm("mistral", "Mistral 7B", 32768, 0.0, 0.0),
            _emb("nomic-embed-text", "nomic-embed-text", 8192, 768, 0.0, recommended=True),
        ],
    },
    {
        "value": "vllm", "label": "vLLM", "provider_type": "both", "adapter": "openai_compatible",
        "description": "Any model served by vLLM's OpenAI-compatible server; add your served models as custom models.",
        "default_base_url": None,
        "documentation_url": "https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html",
        "pricing_tier": "variable", "requires_api_key": False, "requires_base_url": True, "is_featured": False,
        "tags": ["self-hosted", "openai-compatible"], "models": [],
    },
    {
        "value": "lmstudio", "label": "LM Studio", "provider_type": "both", "adapter": "openai_compatible",
        "description": "Models loaded in LM Studio's local OpenAI-compatible server; add them as custom models.",
        "default_base_url": None, "documentation_url": "https://lmstudio.ai/docs/app/api/endpoints/openai",
        "pricing_tier": "free", "requires_api_key": False, "requires_base_url": True, "is_featured": False,
        "tags": ["self-hosted", "openai-compatible"], "models": [],
    },
]
