"""Geography and company addresses: public reference lists (bare arrays),
writes answered 202 with a task, and the company's own addresses.

Countries, states and cities are shared by every company, so only the super admin writes
them; a company admin manages the company's own addresses."""
from __future__ import annotations

from knowrithm.infra.api import ApiBlueprint
from knowrithm.infra.auth import (ADMIN, PUBLIC, READ, SUPER_ADMIN, acting_company_id, current_principal,
                                  request_actor)
from knowrithm.infra.responses import TaskAccepted
from knowrithm.infra.tasks import accepted_body

from . import service
from .schemas import (AddressIn, AddressListOut, CityIn, CityOut, CityPatch, CompanyQuery, CountryIn, CountryOut,
                      CountryPatch, CountryWithStatesOut, SeedOut, StateIn, StateOut, StatePatch, StateWithCitiesOut,
                      address_out, city_out, country_out, state_out)
from .seed import seed_if_empty

bp = ApiBlueprint("geography", __name__, tag="addresses")


def _changes(body) -> dict:
    return body.model_dump(exclude_none=True, include=set(type(body).model_fields))


@bp.get("/address-seed", auth=PUBLIC, response=SeedOut,
        summary="Seed the reference countries, states and cities on a platform that has none")
def seed_reference_data():
    result = seed_if_empty(request_actor())
    return {"success": True, "message": "Reference geography is seeded", **result}


@bp.post("/country", auth=SUPER_ADMIN, body=CountryIn, status=202, response=TaskAccepted, summary="Create a country")
def create_country(body: CountryIn):
    record = service.queue_create_country(name=body.name, iso_code=body.iso_code, actor=current_principal())
    return accepted_body(record, message="Country creation queued")


@bp.get("/country", auth=PUBLIC, response=list[CountryOut], summary="All countries (bare array)")
def list_countries():
    return [country_out(c) for c in service.list_countries()]


@bp.get("/country/<int:country_id>", auth=PUBLIC, response=CountryWithStatesOut, summary="One country with its states")
def get_country(country_id: int):
    return country_out(service.get_country(country_id), with_states=True)


@bp.patch("/country/<int:country_id>", auth=SUPER_ADMIN, body=CountryPatch, status=202, response=TaskAccepted,
          summary="Update a country")
def update_country(country_id: int, body: CountryPatch):
    record = service.queue_update_country(country_id=country_id, changes=_changes(body), actor=current_principal())
    return accepted_body(record, message="Country update queued")


@bp.post("/state", auth=SUPER_ADMIN, body=StateIn, status=202, response=TaskAccepted, summary="Create a state")
def create_state(body: StateIn):
    record = service.queue_create_state(name=body.name, country_id=body.country_id, actor=current_principal())
    return accepted_body(record, message="State creation queued")


@bp.get("/state/country/<int:country_id>", auth=PUBLIC, response=list[StateOut],
        summary="States of a country (bare array)")
def list_states_by_country(country_id: int):
    return [state_out(s) for s in service.list_states(country_id)]


@bp.get("/state/<int:state_id>", auth=PUBLIC, response=StateWithCitiesOut, summary="One state with its cities")
def get_state(state_id: int):
    return state_out(service.get_state(state_id), with_cities=True)


@bp.patch("/state/<int:state_id>", auth=SUPER_ADMIN, body=StatePatch, status=202, response=TaskAccepted,
          summary="Update a state")
def update_state(state_id: int, body: StatePatch):
    record = service.queue_update_state(state_id=state_id, changes=_changes(body), actor=current_principal())
    return accepted_body(record, message="State update queued")


@bp.post("/city", auth=SUPER_ADMIN, body=CityIn, status=202, response=TaskAccepted, summary="Create a city")
def create_city(body: CityIn):
    record = service.queue_create_city(name=body.name, state_id=body.state_id,
                                       postal_code_prefix=body.postal_code_prefix, actor=current_principal())
    return accepted_body(record, message="City creation queued")


@bp.get("/city/state/<int:state_id>", auth=PUBLIC, response=list[CityOut], summary="Cities of a state (bare array)")
def list_cities_by_state(state_id: int):
    return [city_out(c) for c in service.list_cities(state_id)]


@bp.get("/city/<int:city_id>", auth=PUBLIC, response=CityOut, summary="One city")
def get_city(city_id: int):
    return city_out(service.get_city(city_id))


@bp.patch("/city/<int:city_id>", auth=SUPER_ADMIN, body=CityPatch, status=202, response=TaskAccepted,
          summary="Update a city")
def update_city(city_id: int, body: CityPatch):
    record = service.queue_update_city(city_id=city_id, changes=_changes(body), actor=current_principal())
    return accepted_body(record, message="City update queued")


@bp.post("/address", auth=ADMIN, body=AddressIn, status=202, response=TaskAccepted,
         summary="Add an address to the caller's company")
def create_address(body: AddressIn):
    data = body.model_dump(mode="json", include={"street_address", "city_id", "state_id", "country_id",
                                                 "postal_code", "lat", "lan", "is_primary"})
    record = service.queue_create_address(company_id=acting_company_id(body.company_id), data=data,
                                          actor=current_principal())
    return accepted_body(record, message="Address creation queued")


@bp.get("/address", auth=READ, query=CompanyQuery, response=AddressListOut, summary="The company's addresses")
def get_company_address(query: CompanyQuery):
    company_id = acting_company_id(query.company_id)
    items = [address_out(a) for a in service.company_addresses(company_id)]
    return {"success": True, "address": items, "addresses": items}
