"""Seeds the platform provider/model catalog (run at bootstrap and by POST /settings/providers/seed).

Idempotent: rows are matched by provider `value` and model `name` among platform rows
(company_id NULL) and brought in line with `catalog.PROVIDERS`; nothing is duplicated.
"""
from __future__ import annotations

from sqlalchemy import select, text

from knowrithm.infra.db import db

from .catalog import PROVIDERS
from .models import Provider, ProviderModel

_PROVIDER_FIELDS = ("label", "provider_type", "adapter", "description", "default_base_url", "documentation_url",
                    "pricing_tier", "requires_api_key", "requires_base_url", "is_featured", "tags")
_MODEL_DEFAULTS = {"display_name": None, "context_window": None, "embedding_dimension": None, "input_price": None,
                   "output_price": None, "description": None, "is_recommended": False, "supports_streaming": True,
                   "supports_function_calling": False, "supports_vision": False}


def seed(*, commit: bool = True) -> dict:
    # NULL company ids never collide in the unique constraint, so concurrent seeds
    # (bootstrap and the seed route) are serialised with a transaction-level lock.
    db.session.execute(text("SELECT pg_advisory_xact_lock(hashtext('knowrithm.llm.catalog'))"))
    counts = {"providers_created": 0, "providers_updated": 0, "models_created": 0, "models_updated": 0}
    for spec in PROVIDERS:
        values = {**{k: spec[k] for k in _PROVIDER_FIELDS}, "status": "active", "deleted_at": None,
                  "pricing": {"currency": "USD", "unit": "per_1m_tokens", "tier": spec["pricing_tier"]}}
        provider = _platform_provider(spec["value"])
        if provider is None:
            provider = Provider(value=spec["value"], company_id=None, **values)
            db.session.add(provider)
            db.session.flush()
            counts["providers_created"] += 1
        elif _apply(provider, values):
            counts["providers_updated"] += 1
        for model_spec in spec["models"]:
            values = {**_MODEL_DEFAULTS, **model_spec, "status": "active", "deleted_at": None, "is_deprecated": False}
            model = _platform_model(provider, values["name"])
            if model is None:
                db.session.add(ProviderModel(provider_id=provider.id, company_id=None, currency="USD", **values))
                counts["models_created"] += 1
            elif _apply(model, values):
                counts["models_updated"] += 1
    db.session.flush()
    counts["providers"] = len(PROVIDERS)
    counts["models"] = sum(len(p["models"]) for p in PROVIDERS)
    if commit:
        db.session.commit()
    return counts


def seed_for(*, super_admin: bool) -> dict:
    """POST /settings/providers/seed. The catalog is the platform's: only the super admin brings it
    back in line (which restores providers and models the super admin deleted). Anyone else seeds
    only a platform that has no catalog at all; otherwise nothing is written and the counts show
    the catalog as it is."""
    if super_admin or not _any_platform_provider():
        return {**seed(), "seeded": True}
    return {"providers_created": 0, "providers_updated": 0, "models_created": 0, "models_updated": 0,
            "providers": len(PROVIDERS), "models": sum(len(p["models"]) for p in PROVIDERS), "seeded": False}


def _any_platform_provider() -> bool:
    stmt = (select(Provider.id).where(Provider.company_id.is_(None)).limit(1)
            .execution_options(include_deleted=True, all_companies=True))
    return db.session.execute(stmt).first() is not None


def _platform_provider(value: str) -> Provider | None:
    stmt = (select(Provider).where(Provider.company_id.is_(None), Provider.value == value)
            .execution_options(include_deleted=True, all_companies=True))
    return db.session.execute(stmt).scalars().first()


def _platform_model(provider: Provider, name: str) -> ProviderModel | None:
    stmt = (select(ProviderModel).where(ProviderModel.provider_id == provider.id, ProviderModel.name == name,
                                        ProviderModel.company_id.is_(None))
            .execution_options(include_deleted=True, all_companies=True))
    return db.session.execute(stmt).scalars().first()


def _apply(row, values: dict) -> bool:
    """Sets the values; True when something changed."""
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed
