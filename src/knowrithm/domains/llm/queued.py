"""Entry points of the asynchronous LLM routes: validate at once (a 400/409 before anything
is queued), then queue the task that makes the change and audits it with the caller's actor.

Creations take a pre-generated id, so a redelivered task finds the row it already made.
"""
from __future__ import annotations

import uuid

from knowrithm.domains.audit import service as audit
from knowrithm.infra.auth import Principal
from knowrithm.infra.tasks import TaskRecord, enqueue
from knowrithm.infra.tenancy import get_or_404

from . import providers, service, tasks
from .models import LLMSettings


def _owner_id(owner) -> str | None:
    return str(owner) if owner else None


def seed_catalog(*, actor: Principal) -> TaskRecord:
    return enqueue(tasks.seed_catalog, company_id=actor.company_id, actor=audit.actor_ref(actor))


def create_settings(*, company_id, fields: dict, actor: Principal) -> TaskRecord:
    service.check_settings(company_id=company_id, **fields)
    return enqueue(tasks.create_settings, company_id=company_id, settings_id=str(uuid.uuid4()),
                   fields=service.seal_secrets(fields), actor=audit.actor_ref(actor))


def test_settings(*, settings_id, overrides: dict) -> TaskRecord:
    row = get_or_404(LLMSettings, settings_id, what="Settings")
    return enqueue(tasks.test_settings, company_id=row.company_id, settings_id=str(row.id),
                   overrides=service.seal_secrets(overrides))


def create_provider(*, owner, fields: dict, actor: Principal) -> TaskRecord:
    service.dry_run(providers.create_provider, company_id=owner, **fields)
    return enqueue(tasks.create_provider, company_id=owner, provider_id=str(uuid.uuid4()), fields=fields,
                   owner_id=_owner_id(owner), actor=audit.actor_ref(actor))


def bulk_import(*, owner, payload, actor: Principal) -> TaskRecord:
    providers.import_items(payload)
    return enqueue(tasks.bulk_import, company_id=owner, payload=payload, owner_id=_owner_id(owner),
                   actor=audit.actor_ref(actor))


def create_model(*, provider_id, owner, fields: dict, actor: Principal) -> TaskRecord:
    provider = providers.get_provider(provider_id)
    service.dry_run(providers.create_model, provider, company_id=owner, **fields)
    return enqueue(tasks.create_model, company_id=owner, provider_id=str(provider.id), model_id=str(uuid.uuid4()),
                   fields=fields, owner_id=_owner_id(owner), actor=audit.actor_ref(actor))
