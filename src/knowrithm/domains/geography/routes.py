"""Geography and company addresses (CONTRACT §2.6): public reference lists (bare arrays),
admin-only writes answered 202 with a task, and the company's own addresses."""
from __future__ import annotations

from knowrithm.domains.admin import audit
from knowrithm.infra.api import ApiBlueprint
from knowrithm.infra.auth import ADMIN, PUBLIC, READ, acting_company_id, current_principal
from knowrithm.infra.tasks import accepted_body, enqueue

from . import service, tasks
from .schemas import (AddressIn, CityIn, CityPatch, CompanyQuery, CountryIn, CountryPatch, StateIn, StatePatch,
                      address_out, city_out, country_out, state_out)
from .seed import seed

bp = ApiBlueprint("geography", __name__, tag="addresses")


def _queue(task, message: str, **kwargs):
    principal = current_principal()
    record = enqueue(task, company_id=principal.company_id, actor=audit.actor_ref(principal), **kwargs)
    return accepted_body(record, message=message)


def _changes(body) -> dict:
    return body.model_dump(exclude_none=True, include=set(type(body).model_fields))


@bp.get("/address-seed", auth=PUBLIC, summary="Seed the reference countries, states and cities (idempotent)")
def seed_reference_data():
    result = seed()
    return {"success": True, "message": "Reference geography is seeded", **result}


@bp.post("/country", auth=ADMIN, body=CountryIn, status=202, summary="Create a country")
def create_country(body: CountryIn):
    service.check_country(name=body.name, iso_code=body.iso_code)
    return _queue(tasks.create_country, "Country creation queued", name=body.name, iso_code=body.iso_code)


@bp.get("/country", auth=PUBLIC, summary="All countries (bare array)")
def list_countries():
    return [country_out(c) for c in service.list_countries()]


@bp.get("/country/<int:country_id>", auth=PUBLIC, summary="One country with its states")
def get_country(country_id: int):
    return country_out(service.get_country(country_id), with_states=True)


@bp.patch("/country/<int:country_id>", auth=ADMIN, body=CountryPatch, status=202, summary="Update a country")
def update_country(country_id: int, body: CountryPatch):
    country = service.get_country(country_id)
    changes = _changes(body)
    service.check_country(name=changes.get("name"), iso_code=changes.get("iso_code"), exclude_id=country.id)
    return _queue(tasks.update_country, "Country update queued", country_id=country.id, changes=changes)


@bp.post("/state", auth=ADMIN, body=StateIn, status=202, summary="Create a state")
def create_state(body: StateIn):
    service.check_state(name=body.name, country_id=body.country_id)
    return _queue(tasks.create_state, "State creation queued", name=body.name, country_id=body.country_id)


@bp.get("/state/country/<int:country_id>", auth=PUBLIC, summary="States of a country (bare array)")
def list_states_by_country(country_id: int):
    return [state_out(s) for s in service.list_states(country_id)]


@bp.get("/state/<int:state_id>", auth=PUBLIC, summary="One state with its cities")
def get_state(state_id: int):
    return state_out(service.get_state(state_id), with_cities=True)


@bp.patch("/state/<int:state_id>", auth=ADMIN, body=StatePatch, status=202, summary="Update a state")
def update_state(state_id: int, body: StatePatch):
    state = service.get_state(state_id)
    changes = _changes(body)
    service.validate_state_update(state, changes)
    return _queue(tasks.update_state, "State update queued", state_id=state.id, changes=changes)


@bp.post("/city", auth=ADMIN, body=CityIn, status=202, summary="Create a city")
def create_city(body: CityIn):
    service.check_city(name=body.name, state_id=body.state_id)
    return _queue(tasks.create_city, "City creation queued", name=body.name, state_id=body.state_id,
                  postal_code_prefix=body.postal_code_prefix)


@bp.get("/city/state/<int:state_id>", auth=PUBLIC, summary="Cities of a state (bare array)")
def list_cities_by_state(state_id: int):
    return [city_out(c) for c in service.list_cities(state_id)]


@bp.get("/city/<int:city_id>", auth=PUBLIC, summary="One city")
def get_city(city_id: int):
    return city_out(service.get_city(city_id))


@bp.patch("/city/<int:city_id>", auth=ADMIN, body=CityPatch, status=202, summary="Update a city")
def update_city(city_id: int, body: CityPatch):
    city = service.get_city(city_id)
    changes = _changes(body)
    service.validate_city_update(city, changes)
    return _queue(tasks.update_city, "City update queued", city_id=city.id, changes=changes)


@bp.post("/address", auth=ADMIN, body=AddressIn, status=202, summary="Add an address to the caller's company")
def create_address(body: AddressIn):
    company_id = acting_company_id(body.company_id)
    data = body.model_dump(mode="json", include={"street_address", "city_id", "state_id", "country_id",
                                                 "postal_code", "lat", "lan", "is_primary"})
    service.validate_address(data)
    record = enqueue(tasks.create_address, company_id=company_id, data=data, actor=audit.actor_ref())
    return accepted_body(record, message="Address creation queued")


@bp.get("/address", auth=READ, query=CompanyQuery, summary="The company's addresses")
def get_company_address(query: CompanyQuery):
    company_id = acting_company_id(query.company_id)
    items = [address_out(a) for a in service.company_addresses(company_id)]
    return {"success": True, "address": items, "addresses": items}
