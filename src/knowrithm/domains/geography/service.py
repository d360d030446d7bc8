"""Countries, states, cities (platform reference data) and company addresses.

Geography rows are shared by every company, so uniqueness is checked case-insensitively
here (409) before the database constraint would. Addresses belong to one company; they
are not `TenantOwned` (the column predates a foreign key), so the company filter is
written out in this module and nowhere else.
"""
from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from knowrithm.domains.audit import service as audit
from knowrithm.domains.companies.models import Company
from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db
from knowrithm.infra.errors import Conflict, NotFound, ValidationFailed
from knowrithm.infra.tasks import TaskRecord, enqueue

from . import tasks
from .models import Address, City, Country, State


def _get(model, ident: int, what: str):
    row = db.session.get(model, ident)
    if row is None:
        raise NotFound(f"{what} not found")
    return row


def _ref(model, ident: int, field: str, what: str):
    """A row named in a request body: a missing one is the caller's input error (400)."""
    row = db.session.get(model, ident)
    if row is None:
        raise ValidationFailed(f"{what} {ident} does not exist", details={field: [f"no {what.lower()} with id {ident}"]})
    return row


def get_country(country_id: int) -> Country:
    return _get(Country, country_id, "Country")


def get_state(state_id: int) -> State:
    return _get(State, state_id, "State")


def get_city(city_id: int) -> City:
    return _get(City, city_id, "City")


def list_countries() -> list[Country]:
    return list(db.session.execute(select(Country).order_by(Country.name)).scalars())


def list_states(country_id: int) -> list[State]:
    get_country(country_id)
    return list(db.session.execute(select(State).where(State.country_id == country_id).order_by(State.name)).scalars())


def list_cities(state_id: int) -> list[City]:
    get_state(state_id)
    return list(db.session.execute(select(City).where(City.state_id == state_id).order_by(City.name)).scalars())


# --- uniqueness -------------------------------------------------------------------------

def check_country(*, name: str | None, iso_code: str | None, exclude_id: int | None = None) -> None:
    conflicts = {}
    if name is not None:
        stmt = select(Country.id).where(func.lower(Country.name) == name.lower())
        if exclude_id:
            stmt = stmt.where(Country.id != exclude_id)
        if db.session.execute(stmt).first():
            conflicts["name"] = [f"a country named {name!r} already exists"]
    if iso_code is not None:
        stmt = select(Country.id).where(func.upper(Country.iso_code) == iso_code.upper())
        if exclude_id:
            stmt = stmt.where(Country.id != exclude_id)
        if db.session.execute(stmt).first():
            conflicts["iso_code"] = [f"a country with ISO code {iso_code!r} already exists"]
    if conflicts:
        raise Conflict("Country already exists", details=conflicts)


def check_state(*, name: str, country_id: int, exclude_id: int | None = None) -> None:
    _ref(Country, country_id, "country_id", "Country")
    stmt = select(State.id).where(State.country_id == country_id, func.lower(State.name) == name.lower())
    if exclude_id:
        stmt = stmt.where(State.id != exclude_id)
    if db.session.execute(stmt).first():
        raise Conflict("State already exists in this country", details={"name": [f"{name!r} already exists"]})


def check_city(*, name: str, state_id: int, exclude_id: int | None = None) -> None:
    _ref(State, state_id, "state_id", "State")
    stmt = select(City.id).where(City.state_id == state_id, func.lower(City.name) == name.lower())
    if exclude_id:
        stmt = stmt.where(City.id != exclude_id)
    if db.session.execute(stmt).first():
        raise Conflict("City already exists in this state", details={"name": [f"{name!r} already exists"]})


def _commit(what: str) -> None:
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(f"{what} already exists") from None


# --- queued writes: the routes' entry points ----------------------------------------------
# Input is checked before queueing (an immediate 400/404/409); the task runs the write below.

def _queue(task, actor: Principal, **kwargs) -> TaskRecord:
    return enqueue(task, company_id=actor.company_id, actor=audit.actor_ref(actor), **kwargs)


def queue_create_country(*, name: str, iso_code: str | None, actor: Principal) -> TaskRecord:
    check_country(name=name, iso_code=iso_code)
    return _queue(tasks.create_country, actor, name=name, iso_code=iso_code)


def queue_update_country(*, country_id: int, changes: dict, actor: Principal) -> TaskRecord:
    country = get_country(country_id)
    check_country(name=changes.get("name"), iso_code=changes.get("iso_code"), exclude_id=country.id)
    return _queue(tasks.update_country, actor, country_id=country.id, changes=changes)


def queue_create_state(*, name: str, country_id: int, actor: Principal) -> TaskRecord:
    check_state(name=name, country_id=country_id)
    return _queue(tasks.create_state, actor, name=name, country_id=country_id)


def queue_update_state(*, state_id: int, changes: dict, actor: Principal) -> TaskRecord:
    state = get_state(state_id)
    validate_state_update(state, changes)
    return _queue(tasks.update_state, actor, state_id=state.id, changes=changes)


def queue_create_city(*, name: str, state_id: int, postal_code_prefix: str | None, actor: Principal) -> TaskRecord:
    check_city(name=name, state_id=state_id)
    return _queue(tasks.create_city, actor, name=name, state_id=state_id, postal_code_prefix=postal_code_prefix)


def queue_update_city(*, city_id: int, changes: dict, actor: Principal) -> TaskRecord:
    city = get_city(city_id)
    validate_city_update(city, changes)
    return _queue(tasks.update_city, actor, city_id=city.id, changes=changes)


def queue_create_address(*, company_id, data: dict, actor: Principal) -> TaskRecord:
    validate_address(data)
    return enqueue(tasks.create_address, company_id=company_id, data=data, actor=audit.actor_ref(actor))


# --- writes (run by tasks) ------------------------------------------------------------------
# Countries, states and cities share one sequence: validate, change, audit, commit.

def _insert(row, *, kind: str, label: str, details: dict, actor: Principal | None):
    db.session.add(row)
    db.session.flush()
    audit.record(f"geography.{kind}_created", actor=actor, entity_type=kind, entity_id=row.id,
                 description=f"{label} {row.name} created", details=details)
    _commit(label)
    return row


def _update(row, *, kind: str, label: str, fields: tuple[str, ...], changes: dict, actor: Principal | None):
    for field in fields:
        if changes.get(field) is not None:
            setattr(row, field, changes[field])
    audit.record(f"geography.{kind}_updated", actor=actor, entity_type=kind, entity_id=row.id,
                 description=f"{label} {row.name} updated", details=changes)
    _commit(label)
    return row


def create_country(*, name: str, iso_code: str | None, actor: Principal | None) -> Country:
    existing = db.session.execute(select(Country).where(func.lower(Country.name) == name.lower())).scalars().first()
    if existing is not None and (existing.iso_code or None) == iso_code:
        return existing  # a re-delivered task: already done
    check_country(name=name, iso_code=iso_code)
    return _insert(Country(name=name, iso_code=iso_code), kind="country", label="Country",
                   details={"name": name, "iso_code": iso_code}, actor=actor)


def update_country(*, country_id: int, changes: dict, actor: Principal | None) -> Country:
    country = get_country(country_id)
    check_country(name=changes.get("name"), iso_code=changes.get("iso_code"), exclude_id=country.id)
    return _update(country, kind="country", label="Country", fields=("name", "iso_code"), changes=changes,
                   actor=actor)


def create_state(*, name: str, country_id: int, actor: Principal | None) -> State:
    existing = db.session.execute(select(State).where(
        State.country_id == country_id, func.lower(State.name) == name.lower())).scalars().first()
    if existing is not None:
        return existing
    check_state(name=name, country_id=country_id)
    return _insert(State(name=name, country_id=country_id), kind="state", label="State",
                   details={"name": name, "country_id": country_id}, actor=actor)


def validate_state_update(state: State, changes: dict) -> None:
    name = changes.get("name") or state.name
    country_id = changes.get("country_id") or state.country_id
    check_state(name=name, country_id=country_id, exclude_id=state.id)


def update_state(*, state_id: int, changes: dict, actor: Principal | None) -> State:
    state = get_state(state_id)
    validate_state_update(state, changes)
    _update(state, kind="state", label="State", fields=("name", "country_id"), changes=changes, actor=actor)
    db.session.refresh(state)
    return state


def create_city(*, name: str, state_id: int, postal_code_prefix: str | None, actor: Principal | None) -> City:
    existing = db.session.execute(select(City).where(
        City.state_id == state_id, func.lower(City.name) == name.lower())).scalars().first()
    if existing is not None:
        return existing
    check_city(name=name, state_id=state_id)
    return _insert(City(name=name, state_id=state_id, postal_code_prefix=postal_code_prefix), kind="city",
                   label="City", details={"name": name, "state_id": state_id}, actor=actor)


def validate_city_update(city: City, changes: dict) -> None:
    name = changes.get("name") or city.name
    state_id = changes.get("state_id") or city.state_id
    check_city(name=name, state_id=state_id, exclude_id=city.id)


def update_city(*, city_id: int, changes: dict, actor: Principal | None) -> City:
    city = get_city(city_id)
    validate_city_update(city, changes)
    _update(city, kind="city", label="City", fields=("name", "state_id", "postal_code_prefix"), changes=changes,
            actor=actor)
    db.session.refresh(city)
    return city


# --- company addresses -------------------------------------------------------------------

def validate_address(data: dict) -> None:
    """The city must lie in the state and the state in the country (400 naming the field)."""
    country = _ref(Country, data["country_id"], "country_id", "Country")
    state = _ref(State, data["state_id"], "state_id", "State")
    city = _ref(City, data["city_id"], "city_id", "City")
    if state.country_id != country.id:
        raise ValidationFailed("State is not in that country",
                               details={"state_id": [f"state {state.id} belongs to country {state.country_id}"]})
    if city.state_id != state.id:
        raise ValidationFailed("City is not in that state",
                               details={"city_id": [f"city {city.id} belongs to state {city.state_id}"]})


def create_address(*, company_id, data: dict, actor: Principal | None) -> Address:
    company_id = uuid.UUID(str(company_id))
    validate_address(data)
    company = db.session.get(Company, company_id)
    if company is None or company.deleted_at is not None:
        raise NotFound("Company not found")
    fields = {k: data.get(k) for k in ("street_address", "city_id", "state_id", "country_id", "postal_code",
                                       "lat", "lan")}
    same = db.session.execute(select(Address).where(
        Address.company_id == company_id, Address.street_address == fields["street_address"],
        Address.city_id == fields["city_id"])).scalars().first()
    if same is not None:
        return same  # a re-delivered task (or a client retry): already done
    # The first address is the primary one; a new primary demotes the previous one.
    primary = bool(data.get("is_primary")) or company.address_id is None
    if primary:
        db.session.execute(update(Address).where(Address.company_id == company_id).values(is_primary=False))
    address = Address(company_id=company_id, is_primary=primary, **fields)
    db.session.add(address)
    db.session.flush()
    if primary:
        company.address_id = address.id
    audit.record("company.address_created", actor=actor, company_id=company_id, entity_type="address",
                 entity_id=address.id, description="Company address added",
                 details={"is_primary": primary, "city_id": address.city_id})
    db.session.commit()
    return address


def company_addresses(company_id) -> list[Address]:
    return list(db.session.execute(
        select(Address).where(Address.company_id == company_id)
        .order_by(Address.is_primary.desc(), Address.created_at)).scalars())
