"""LLM settings and the provider/model catalog.

Creations, the connection test and the seed answer 202 and run as tasks (the SDK polls
them); input is validated before queueing, so bad input is a 400 at once. Updates, reads
and deletes are synchronous with the body a task would have returned (docs/api-compatibility.md, "Asynchronous tasks").
"""
from __future__ import annotations

from knowrithm.infra.api import ApiBlueprint
from knowrithm.infra.auth import READ, WRITE, acting_company_id, current_principal
from knowrithm.infra.errors import NotFound
from knowrithm.infra.parsing import json_body
from knowrithm.infra.responses import TaskAccepted
from knowrithm.infra.tasks import accepted_body
from knowrithm.infra.tenancy import get_or_404

from . import catalog_view, providers, queued, service
from .models import LLMSettings
from .schemas import (ModelDeletedOut, ModelIn, ModelListOut, ModelListQuery, ModelOut, ModelUpdatedOut,
                      ProviderDeletedOut, ProviderGetQuery, ProviderIn, ProviderListOut, ProviderListQuery,
                      ProviderOut, ProviderUpdatedOut, SettingsDeletedOut, SettingsIn, SettingsListOut, SettingsOut,
                      SettingsProvidersOut, SettingsUpdatedOut, TestOverridesIn, model_out, provider_out, settings_out)

bp = ApiBlueprint("llm", __name__, tag="settings")


def _owner(requested=None):
    """Company that owns new catalog rows; a super admin without a company edits the platform catalog."""
    principal = current_principal(optional=False)
    if principal.is_super_admin and not requested and principal.company_id is None:
        return None
    return acting_company_id(requested)


# --- settings -----------------------------------------------------------------------------

@bp.get("/settings/providers", auth=READ, response=SettingsProvidersOut,
        summary="Providers and their models, grouped for settings forms")
def list_settings_providers():
    return catalog_view.settings_providers()


@bp.post("/settings/providers/seed", auth=WRITE, status=202, response=TaskAccepted,
         summary="Seed the provider catalog (idempotent)")
def seed_settings_providers():
    record = queued.seed_catalog(actor=current_principal(optional=False))
    return accepted_body(record, message="Provider catalog seed queued.")


@bp.post(["/settings", "/sdk/settings"], auth=WRITE, body=SettingsIn, status=202, response=TaskAccepted,
         summary="Create LLM settings (provider/model ids, or names)")
def create_settings(body: SettingsIn):
    record = queued.create_settings(company_id=acting_company_id(body.company_id), fields=body.fields(),
                                    actor=current_principal())
    return accepted_body(record, message="LLM settings creation queued.")


@bp.get("/settings/company/<company_id>", auth=READ, response=SettingsListOut, summary="LLM settings of a company")
def list_company_settings(company_id: str):
    principal = current_principal(optional=False)
    if not principal.is_super_admin and str(principal.company_id) != company_id:
        raise NotFound("Company not found")
    rows = service.list_company_settings(company_id, all_companies=principal.is_super_admin)
    return {"settings": [settings_out(r) for r in rows], "total": len(rows)}


@bp.get("/settings/agent/<agent_id>", auth=READ, response=SettingsOut, summary="The LLM settings an agent answers with")
def get_agent_settings(agent_id: str):
    return settings_out(service.settings_for_agent(agent_id))


@bp.post("/settings/test/<settings_id>", auth=WRITE, body=TestOverridesIn, status=202, response=TaskAccepted,
         summary="Test the settings with a real call to the model and the embedder")
def test_settings(settings_id: str, body: TestOverridesIn):
    record = queued.test_settings(settings_id=settings_id, overrides=body.model_dump(exclude_none=True))
    return accepted_body(record, message="Settings test queued.", estimated_time=10)


@bp.get("/settings/<settings_id>", auth=READ, response=SettingsOut, summary="One LLM settings record")
def get_settings(settings_id: str):
    return settings_out(get_or_404(LLMSettings, settings_id, what="Settings"))


@bp.put("/settings/<settings_id>", auth=WRITE, body=SettingsIn, response=SettingsUpdatedOut,
        summary="Update LLM settings")
def update_settings(settings_id: str, body: SettingsIn):
    row, flagged = service.save_settings(settings_id, body.fields(), actor=current_principal())
    return {"message": "LLM settings updated", "settings": settings_out(row), "reembed_agent_ids": flagged}


@bp.delete("/settings/<settings_id>", auth=WRITE, response=SettingsDeletedOut,
           summary="Delete LLM settings (409 while agents use them)")
def delete_settings(settings_id: str):
    row = service.remove_settings(settings_id, actor=current_principal())
    return {"message": "LLM settings deleted", "settings_id": str(row.id)}


# --- providers and models -----------------------------------------------------------------

@bp.get("/providers", auth=READ, query=ProviderListQuery, response=ProviderListOut, summary="List providers")
def list_providers(query: ProviderListQuery):
    out = [provider_out(p, models) for p, models in providers.providers_with_models(
        type=query.type, status=query.status, include_models=query.include_models)]
    return {"providers": out, "total": len(out)}


@bp.post("/providers", auth=WRITE, body=ProviderIn, status=202, response=TaskAccepted,
         summary="Create a custom provider")
def create_provider(body: ProviderIn):
    record = queued.create_provider(owner=_owner(getattr(body, "company_id", None)), fields=body.fields(),
                                    actor=current_principal())
    return accepted_body(record, message="Provider creation queued.")


@bp.post("/providers/bulk-import", auth=WRITE, status=202, response=TaskAccepted,
         summary="Import providers and models in bulk")
def bulk_import_providers():
    payload = json_body()
    owner = _owner(payload.get("company_id") if isinstance(payload, dict) else None)
    record = queued.bulk_import(owner=owner, payload=payload, actor=current_principal())
    return accepted_body(record, message="Provider import queued.")


@bp.get("/providers/<provider_id>", auth=READ, query=ProviderGetQuery, response=ProviderOut,
        summary="One provider (with its models)")
def get_provider(provider_id: str, query: ProviderGetQuery):
    return provider_out(*providers.provider_with_models(provider_id, include_models=query.include_models))


@bp.put("/providers/<provider_id>", auth=WRITE, body=ProviderIn, response=ProviderUpdatedOut,
        summary="Update a custom provider")
def update_provider(provider_id: str, body: ProviderIn):
    row = providers.save_provider(provider_id, actor=current_principal(), fields=body.fields())
    return {"message": "Provider updated", "provider": provider_out(row), **provider_out(row)}


@bp.delete("/providers/<provider_id>", auth=WRITE, response=ProviderDeletedOut,
           summary="Delete a custom provider and disable its models")
def delete_provider(provider_id: str):
    row, disabled = providers.remove_provider(provider_id, actor=current_principal())
    return {"message": "Provider deleted", "provider_id": str(row.id), "models_disabled": disabled}


@bp.get("/providers/<provider_id>/models", auth=READ, query=ModelListQuery, response=ModelListOut,
        summary="Models of a provider")
def list_models(provider_id: str, query: ModelListQuery):
    provider, rows = providers.models_of(provider_id, model_type=query.type, status=query.status)
    return {"models": [model_out(m) for m in rows], "provider": provider_out(provider), "total": len(rows)}


@bp.post("/providers/<provider_id>/models", auth=WRITE, body=ModelIn, status=202, response=TaskAccepted,
         summary="Add a custom model")
def create_model(provider_id: str, body: ModelIn):
    record = queued.create_model(provider_id=provider_id, owner=_owner(None), fields=body.fields(),
                                 actor=current_principal())
    return accepted_body(record, message="Model creation queued.")


@bp.get("/providers/<provider_id>/models/<model_id>", auth=READ, response=ModelOut, summary="One model")
def get_model(provider_id: str, model_id: str):
    return model_out(providers.find_model(provider_id, model_id))


@bp.put("/providers/<provider_id>/models/<model_id>", auth=WRITE, body=ModelIn, response=ModelUpdatedOut,
        summary="Update a custom model")
def update_model(provider_id: str, model_id: str, body: ModelIn):
    row = providers.save_model(provider_id, model_id, actor=current_principal(), fields=body.fields())
    return {"message": "Model updated", "model": model_out(row), **model_out(row)}


@bp.delete("/providers/<provider_id>/models/<model_id>", auth=WRITE, response=ModelDeletedOut,
           summary="Delete a custom model")
def delete_model(provider_id: str, model_id: str):
    row = providers.remove_model(provider_id, model_id, actor=current_principal())
    return {"message": "Model deleted", "model_id": str(row.id)}
