"""Finding a provider and model from what a client sent: an id or a name.

Names match case-insensitively on the provider's `value` or `label` and on the model's
`name` (or `display_name`). Lookups go through the tenancy filter, so a company sees the
platform catalog plus its own custom rows, never another company's.
"""
from __future__ import annotations

from sqlalchemy import func, or_, select

from knowrithm.infra.db import db
from knowrithm.infra.errors import ValidationFailed
from knowrithm.infra.parsing import parse_uuid

from .models import Provider, ProviderModel

KINDS = {"llm": "chat", "embedding": "embedding"}


def providers_of_type(model_type: str) -> list[Provider]:
    stmt = (select(Provider).where(Provider.status == "active",
                                   Provider.provider_type.in_((model_type, "both")))
            .order_by(Provider.is_featured.desc(), Provider.label))
    return list(db.session.execute(stmt).scalars())


def models_of(provider: Provider, model_type: str | None = None) -> list[ProviderModel]:
    stmt = select(ProviderModel).where(ProviderModel.provider_id == provider.id, ProviderModel.status == "active")
    if model_type:
        stmt = stmt.where(ProviderModel.model_type == model_type)
    return list(db.session.execute(stmt.order_by(ProviderModel.name)).scalars())


def find_provider(ref) -> Provider | None:
    key = parse_uuid(ref)
    if key is not None:
        return db.session.execute(select(Provider).where(Provider.id == key)).scalar_one_or_none()
    name = str(ref).strip().lower()
    stmt = select(Provider).where(or_(func.lower(Provider.value) == name, func.lower(Provider.label) == name))
    # A company's own provider wins over a platform row of the same name.
    rows = sorted(db.session.execute(stmt).scalars(), key=lambda p: p.company_id is None)
    return rows[0] if rows else None


def find_model(provider: Provider | None, ref) -> ProviderModel | None:
    key = parse_uuid(ref)
    stmt = select(ProviderModel)
    if key is not None:
        stmt = stmt.where(ProviderModel.id == key)
    else:
        name = str(ref).strip().lower()
        stmt = stmt.where(or_(func.lower(ProviderModel.name) == name, func.lower(ProviderModel.display_name) == name))
    if provider is not None:
        stmt = stmt.where(ProviderModel.provider_id == provider.id)
    rows = sorted(db.session.execute(stmt).scalars(), key=lambda m: m.company_id is None)
    return rows[0] if rows else None


def resolve_provider_model(*, provider=None, model=None, model_type: str = "llm",
                           field: str | None = None) -> tuple[Provider, ProviderModel]:
    """(provider, model) for ids or names; 400 naming the valid choices when they do not fit.

    `field` is the prefix used in error details (`llm` / `embedding`, default from `model_type`).
    A model given by id may come without its provider.
    """
    field = field or model_type
    kind = KINDS[model_type]
    prov_row = None
    if provider not in (None, ""):
        prov_row = find_provider(provider)
        if prov_row is None or prov_row.status != "active":
            valid = ", ".join(p.value for p in providers_of_type(model_type))
            raise ValidationFailed(f"Unknown {kind} provider '{provider}'. Valid {kind} providers: {valid}",
                                   code="UNKNOWN_PROVIDER",
                                   details={f"{field}_provider": [f"unknown provider; valid: {valid}"]})
        if prov_row.provider_type not in (model_type, "both"):
            valid = ", ".join(p.value for p in providers_of_type(model_type))
            raise ValidationFailed(
                f"Provider '{prov_row.label}' offers no {kind} models. Valid {kind} providers: {valid}",
                code="WRONG_MODEL_TYPE", details={f"{field}_provider": [f"not a {kind} provider; valid: {valid}"]})
    if model in (None, ""):
        raise ValidationFailed(f"A {kind} model is required", details={f"{field}_model": ["required"]})
    model_row = find_model(prov_row, model)
    if model_row is None and prov_row is None and parse_uuid(model) is None:
        raise ValidationFailed(f"Name the {kind} provider of model '{model}'",
                               details={f"{field}_provider": ["required when the model is given by name"]})
    if model_row is None or model_row.status != "active":
        if prov_row is None:
            raise ValidationFailed(f"Unknown {kind} model id '{model}'", code="UNKNOWN_MODEL",
                                   details={f"{field}_model": ["unknown model id"]})
        valid = ", ".join(m.name for m in models_of(prov_row, model_type)) or "(none: add a custom model)"
        raise ValidationFailed(
            f"Unknown {kind} model '{model}' for provider '{prov_row.label}'. Valid {kind} models: {valid}",
            code="UNKNOWN_MODEL", details={f"{field}_model": [f"unknown model; valid: {valid}"]})
    if prov_row is None:
        prov_row = model_row.provider
    if model_row.model_type != model_type:
        valid = ", ".join(m.name for m in models_of(prov_row, model_type)) or "(none)"
        raise ValidationFailed(
            f"Model '{model_row.name}' is an {model_row.model_type} model and cannot be used as the {kind} model. "
            f"Valid {kind} models of '{prov_row.label}': {valid}",
            code="WRONG_MODEL_TYPE", details={f"{field}_model": [f"wrong model type; valid: {valid}"]})
    return prov_row, model_row
