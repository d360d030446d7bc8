"""LLM settings (CONTRACT §2.9) and the provider/model catalog (§2.10).

Creations, the connection test and the seed answer 202 and run as tasks (the SDK polls
them); input is validated before queueing, so bad input is a 400 at once. Updates, reads
and deletes are synchronous with the body a task would have returned (§1.5).
"""
from __future__ import annotations

import uuid

from knowrithm.domains.admin import audit
from knowrithm.infra.api import ApiBlueprint
from knowrithm.infra.auth import READ, WRITE, acting_company_id, current_principal
from knowrithm.infra.db import db
from knowrithm.infra.errors import NotFound
from knowrithm.infra.tasks import accepted_body, enqueue
from knowrithm.infra.tenancy import get_or_404

from . import catalog_view, providers, service, tasks
from .models import LLMSettings
from .schemas import (ModelIn, ModelListQuery, ProviderGetQuery, ProviderIn, ProviderListQuery, SettingsIn,
                      TestOverridesIn, model_out, provider_out, settings_out)

bp = ApiBlueprint("llm", __name__, tag="settings")


def _super_admin() -> bool:
    return current_principal(optional=False).is_super_admin


def _owner(requested=None):
    """Company that owns new catalog rows; a super admin without a company edits the platform catalog."""
    principal = current_principal(optional=False)
    if principal.is_super_admin and not requested and principal.company_id is None:
        return None
    return acting_company_id(requested)


# --- settings -----------------------------------------------------------------------------

@bp.get("/settings/providers", auth=READ, summary="Providers and their models, grouped for settings forms")
def list_settings_providers():
    return catalog_view.settings_providers()


@bp.post("/settings/providers/seed", auth=WRITE, status=202, summary="Seed the provider catalog (idempotent)")
def seed_settings_providers():
    record = enqueue(tasks.seed_catalog, company_id=current_principal(optional=False).company_id)
    return accepted_body(record, message="Provider catalog seed queued.")


@bp.post("/settings", auth=WRITE, body=SettingsIn, status=202, summary="Create LLM settings (provider/model ids)")
def create_settings(body: SettingsIn):
    return _queue_settings(body)


@bp.post("/sdk/settings", auth=WRITE, body=SettingsIn, status=202,
         summary="Create LLM settings by provider/model names")
def create_settings_by_names(body: SettingsIn):
    return _queue_settings(body)


def _queue_settings(body: SettingsIn):
    company_id = acting_company_id(body.company_id)
    fields = body.fields()
    service.check_settings(company_id=company_id, **fields)
    record = enqueue(tasks.create_settings, company_id=company_id, settings_id=str(uuid.uuid4()),
                     fields=service.seal_secrets(fields))
    return accepted_body(record, message="LLM settings creation queued.")


@bp.get("/settings/company/<company_id>", auth=READ, summary="LLM settings of a company")
def list_company_settings(company_id: str):
    principal = current_principal(optional=False)
    if not principal.is_super_admin and str(principal.company_id) != company_id:
        raise NotFound("Company not found")
    rows = service.list_company_settings(company_id, all_companies=principal.is_super_admin)
    return {"settings": [settings_out(r) for r in rows], "total": len(rows)}


@bp.get("/settings/agent/<agent_id>", auth=READ, summary="The LLM settings an agent answers with")
def get_agent_settings(agent_id: str):
    return settings_out(service.settings_for_agent(agent_id))


@bp.post("/settings/test/<settings_id>", auth=WRITE, body=TestOverridesIn, status=202,
         summary="Test the settings with a real call to the model and the embedder")
def test_settings(settings_id: str, body: TestOverridesIn):
    row = get_or_404(LLMSettings, settings_id, what="Settings")
    overrides = service.seal_secrets(body.model_dump(exclude_none=True))
    record = enqueue(tasks.test_settings, company_id=row.company_id, settings_id=str(row.id), overrides=overrides)
    return accepted_body(record, message="Settings test queued.", estimated_time=10)


@bp.get("/settings/<settings_id>", auth=READ, summary="One LLM settings record")
def get_settings(settings_id: str):
    return settings_out(get_or_404(LLMSettings, settings_id, what="Settings"))


@bp.put("/settings/<settings_id>", auth=WRITE, body=SettingsIn, summary="Update LLM settings")
def update_settings(settings_id: str, body: SettingsIn):
    row = get_or_404(LLMSettings, settings_id, what="Settings")
    row, embedding_changed = service.update_settings(row, **body.fields())
    flagged = service.reembed_stale_agents(row) if embedding_changed else []
    audit.record("settings.updated", entity_type="llm_settings", entity_id=row.id,
                 details={"fields": sorted(k for k in body.fields() if not k.endswith("api_key")),
                          "reembed_agents": flagged})
    db.session.commit()
    return {"message": "LLM settings updated", "settings": settings_out(row), "reembed_agent_ids": flagged}


@bp.delete("/settings/<settings_id>", auth=WRITE, summary="Delete LLM settings (409 while agents use them)")
def delete_settings(settings_id: str):
    row = get_or_404(LLMSettings, settings_id, what="Settings")
    service.delete_settings(row)
    audit.record("settings.deleted", entity_type="llm_settings", entity_id=row.id)
    db.session.commit()
    return {"message": "LLM settings deleted", "settings_id": str(row.id)}


# --- providers and models -----------------------------------------------------------------

@bp.get("/providers", auth=READ, query=ProviderListQuery, summary="List providers")
def list_providers(query: ProviderListQuery):
    rows = providers.list_providers(type=query.type, status=query.status)
    out = [provider_out(p, providers.live_models(p) if query.include_models else None) for p in rows]
    return {"providers": out, "total": len(out)}


@bp.post("/providers", auth=WRITE, body=ProviderIn, status=202, summary="Create a custom provider")
def create_provider(body: ProviderIn):
    owner = _owner(getattr(body, "company_id", None))
    fields = body.fields()
    service.dry_run(providers.create_provider, company_id=owner, **fields)
    record = enqueue(tasks.create_provider, company_id=owner, provider_id=str(uuid.uuid4()), fields=fields,
                     owner_id=str(owner) if owner else None)
    return accepted_body(record, message="Provider creation queued.")


@bp.post("/providers/bulk-import", auth=WRITE, status=202, summary="Import providers and models in bulk")
def bulk_import_providers():
    from knowrithm.infra.parsing import json_body

    payload = json_body()
    owner = _owner(payload.get("company_id") if isinstance(payload, dict) else None)
    providers.import_items(payload)
    record = enqueue(tasks.bulk_import, company_id=owner, payload=payload, owner_id=str(owner) if owner else None)
    return accepted_body(record, message="Provider import queued.")


@bp.get("/providers/<provider_id>", auth=READ, query=ProviderGetQuery, summary="One provider (with its models)")
def get_provider(provider_id: str, query: ProviderGetQuery):
    row = providers.get_provider(provider_id)
    return provider_out(row, providers.live_models(row) if query.include_models else None)


@bp.put("/providers/<provider_id>", auth=WRITE, body=ProviderIn, summary="Update a custom provider")
def update_provider(provider_id: str, body: ProviderIn):
    row = providers.update_provider(providers.get_provider(provider_id), is_super_admin=_super_admin(),
                                    **body.fields())
    audit.record("provider.updated", entity_type="provider", entity_id=row.id)
    db.session.commit()
    return {"message": "Provider updated", "provider": provider_out(row), **provider_out(row)}


@bp.delete("/providers/<provider_id>", auth=WRITE, summary="Delete a custom provider and disable its models")
def delete_provider(provider_id: str):
    row = providers.get_provider(provider_id)
    disabled = providers.delete_provider(row, is_super_admin=_super_admin())
    audit.record("provider.deleted", entity_type="provider", entity_id=row.id)
    db.session.commit()
    return {"message": "Provider deleted", "provider_id": str(row.id), "models_disabled": disabled}


@bp.get("/providers/<provider_id>/models", auth=READ, query=ModelListQuery, summary="Models of a provider")
def list_models(provider_id: str, query: ModelListQuery):
    provider = providers.get_provider(provider_id)
    rows = providers.live_models(provider, model_type=query.type, status=query.status)
    return {"models": [model_out(m) for m in rows], "provider": provider_out(provider), "total": len(rows)}


@bp.post("/providers/<provider_id>/models", auth=WRITE, body=ModelIn, status=202, summary="Add a custom model")
def create_model(provider_id: str, body: ModelIn):
    provider = providers.get_provider(provider_id)
    owner = _owner(None)
    fields = body.fields()
    service.dry_run(providers.create_model, provider, company_id=owner, **fields)
    record = enqueue(tasks.create_model, company_id=owner, provider_id=str(provider.id),
                     model_id=str(uuid.uuid4()), fields=fields, owner_id=str(owner) if owner else None)
    return accepted_body(record, message="Model creation queued.")


@bp.get("/providers/<provider_id>/models/<model_id>", auth=READ, summary="One model")
def get_model(provider_id: str, model_id: str):
    return model_out(providers.get_model(providers.get_provider(provider_id), model_id))


@bp.put("/providers/<provider_id>/models/<model_id>", auth=WRITE, body=ModelIn, summary="Update a custom model")
def update_model(provider_id: str, model_id: str, body: ModelIn):
    provider = providers.get_provider(provider_id)
    row = providers.update_model(provider, providers.get_model(provider, model_id), is_super_admin=_super_admin(),
                                 **body.fields())
    audit.record("provider.model_updated", entity_type="provider_model", entity_id=row.id)
    db.session.commit()
    return {"message": "Model updated", "model": model_out(row), **model_out(row)}


@bp.delete("/providers/<provider_id>/models/<model_id>", auth=WRITE, summary="Delete a custom model")
def delete_model(provider_id: str, model_id: str):
    provider = providers.get_provider(provider_id)
    row = providers.get_model(provider, model_id)
    providers.delete_model(row, is_super_admin=_super_admin())
    audit.record("provider.model_deleted", entity_type="provider_model", entity_id=row.id)
    db.session.commit()
    return {"message": "Model deleted", "model_id": str(row.id)}
