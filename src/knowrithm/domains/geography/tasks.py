"""Queued geography writes (docs/architecture.md, "The write path"). Each returns the object the SDK expects."""
from __future__ import annotations

from celery import shared_task

from knowrithm.domains.audit import service as audit

from . import service
from .schemas import address_out, city_out, country_out, state_out


@shared_task(name="knowrithm.geography.create_country")
def create_country(*, name: str, iso_code: str | None = None, actor: dict | None = None,
                   company_id: str | None = None) -> dict:
    return country_out(service.create_country(name=name, iso_code=iso_code, actor=audit.actor_from_ref(actor)))


@shared_task(name="knowrithm.geography.update_country")
def update_country(*, country_id: int, changes: dict, actor: dict | None = None, company_id: str | None = None) -> dict:
    country = service.update_country(country_id=country_id, changes=changes, actor=audit.actor_from_ref(actor))
    return country_out(country, with_states=True)


@shared_task(name="knowrithm.geography.create_state")
def create_state(*, name: str, country_id: int, actor: dict | None = None, company_id: str | None = None) -> dict:
    return state_out(service.create_state(name=name, country_id=country_id, actor=audit.actor_from_ref(actor)))


@shared_task(name="knowrithm.geography.update_state")
def update_state(*, state_id: int, changes: dict, actor: dict | None = None, company_id: str | None = None) -> dict:
    state = service.update_state(state_id=state_id, changes=changes, actor=audit.actor_from_ref(actor))
    return state_out(state, with_cities=True)


@shared_task(name="knowrithm.geography.create_city")
def create_city(*, name: str, state_id: int, postal_code_prefix: str | None = None, actor: dict | None = None,
                company_id: str | None = None) -> dict:
    return city_out(service.create_city(name=name, state_id=state_id, postal_code_prefix=postal_code_prefix,
                                        actor=audit.actor_from_ref(actor)))


@shared_task(name="knowrithm.geography.update_city")
def update_city(*, city_id: int, changes: dict, actor: dict | None = None, company_id: str | None = None) -> dict:
    return city_out(service.update_city(city_id=city_id, changes=changes, actor=audit.actor_from_ref(actor)))


@shared_task(name="knowrithm.geography.create_address")
def create_address(*, company_id: str, data: dict, actor: dict | None = None) -> dict:
    return address_out(service.create_address(company_id=company_id, data=data, actor=audit.actor_from_ref(actor)))
