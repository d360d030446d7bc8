"""The grouped catalog behind settings forms (GET /settings/providers)."""
from __future__ import annotations

from knowrithm.infra.db import iso

from .providers import PRICING_TIERS, list_providers, live_models
from .schemas import model_out, provider_out


def settings_providers() -> dict:
    llm, embedding, newest = [], [], None
    for provider in list_providers():
        models = [m for m in live_models(provider) if m.status == "active"]
        for kind, bucket in (("llm", llm), ("embedding", embedding)):
            of_kind = [m for m in models if m.model_type == kind]
            if provider.provider_type in (kind, "both"):
                bucket.append({**provider_out(provider), "models": [model_out(m) for m in of_kind]})
        for stamp in [provider.updated_at, *(m.updated_at for m in models)]:
            newest = stamp if newest is None or (stamp and stamp > newest) else newest
    return {
        "llm_providers": llm, "embedding_providers": embedding,
        "metadata": {"last_updated": iso(newest), "pricing_tiers": list(PRICING_TIERS),
                     "total_llm_providers": len(llm), "total_embedding_providers": len(embedding),
                     "price_unit": "USD per 1M tokens"},
    }
