"""Background work of the LLM domain: creations the SDK resolves by polling, the settings
connection test (a real vendor round trip) and the catalog seed.

Creations take a pre-generated id, so a redelivered task returns the row it already made
instead of a duplicate. API keys arrive already encrypted (`service.seal_secrets`).
"""
from __future__ import annotations

from celery import shared_task

from knowrithm.domains.audit import service as audit
from knowrithm.infra.db import db, utcnow
from knowrithm.infra.tenancy import get_or_404

from . import connection, providers, service
from .models import LLMSettings
from .schemas import model_out, provider_out, settings_out
from .seed import seed_for


@shared_task(name="knowrithm.llm.create_settings")
def create_settings(settings_id: str, fields: dict, company_id: str | None = None,
                    actor: dict | None = None) -> dict:
    row = service.create_settings_once(settings_id=settings_id, company_id=company_id, fields=fields,
                                       actor=audit.actor_from_ref(actor))
    return {"message": "LLM settings created", "settings": settings_out(row), "settings_id": str(row.id)}


@shared_task(name="knowrithm.llm.test_settings", soft_time_limit=120, time_limit=150)
def test_settings(settings_id: str, overrides: dict | None = None, company_id: str | None = None) -> dict:
    row = get_or_404(LLMSettings, settings_id, what="Settings")
    report = connection.test_settings(row, overrides)
    row.last_tested_at = utcnow()
    db.session.commit()
    return report


@shared_task(name="knowrithm.llm.seed_catalog")
def seed_catalog(company_id: str | None = None, actor: dict | None = None) -> dict:
    principal = audit.actor_from_ref(actor)
    counts = seed_for(super_admin=bool(principal and principal.is_super_admin))
    if not counts.pop("seeded"):
        return {"message": "The provider catalog is already seeded; only a super admin re-seeds it", **counts}
    audit.record("catalog.seeded", actor=principal, company_id=None, entity_type="provider_catalog",
                 description="Provider catalog seeded", details=counts)
    db.session.commit()
    return {"message": "Provider catalog seeded", **counts}


@shared_task(name="knowrithm.llm.create_provider")
def create_provider(provider_id: str, fields: dict, owner_id: str | None = None,
                    company_id: str | None = None, actor: dict | None = None) -> dict:
    row = providers.create_provider_once(provider_id=provider_id, owner_id=owner_id, fields=fields,
                                         actor=audit.actor_from_ref(actor))
    return {"message": "Provider created", "provider": provider_out(row), **provider_out(row)}


@shared_task(name="knowrithm.llm.create_model")
def create_model(provider_id: str, model_id: str, fields: dict, owner_id: str | None = None,
                 company_id: str | None = None, actor: dict | None = None) -> dict:
    row = providers.create_model_once(provider_id=provider_id, model_id=model_id, owner_id=owner_id, fields=fields,
                                      actor=audit.actor_from_ref(actor))
    return {"message": "Model created", "model": model_out(row), **model_out(row)}


@shared_task(name="knowrithm.llm.bulk_import")
def bulk_import(payload, owner_id: str | None = None, company_id: str | None = None,
                actor: dict | None = None) -> dict:
    result = providers.import_catalog(payload, owner_id=owner_id, actor=audit.actor_from_ref(actor))
    failed = len(result["errors"])
    message = f"Imported {len(result['providers'])} provider(s)" + (f", {failed} failed" if failed else "")
    return {"message": message, **result}
