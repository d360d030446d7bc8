"""Geography request models and the object shapes the clients read (integer ids)."""
from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from knowrithm.infra.db import iso, sid
from knowrithm.infra.parsing import single_spaced
from knowrithm.infra.responses import Open


def _clean_iso(value: str | None) -> str | None:
    if value is None:
        return value
    value = value.strip().upper()
    if not value.isalpha():
        raise ValueError("must be 1-3 letters (ISO 3166 code)")
    return value


class _In(BaseModel):
    model_config = ConfigDict(extra="allow")


class CountryIn(_In):
    name: str = Field(min_length=1, max_length=120)
    iso_code: str | None = Field(None, min_length=1, max_length=3)

    _name = field_validator("name")(single_spaced)
    _iso = field_validator("iso_code")(_clean_iso)


class CountryPatch(_In):
    name: str | None = Field(None, min_length=1, max_length=120)
    iso_code: str | None = Field(None, min_length=1, max_length=3)

    _name = field_validator("name")(single_spaced)
    _iso = field_validator("iso_code")(_clean_iso)

    @model_validator(mode="after")
    def _one_field(self):
        if self.name is None and self.iso_code is None:
            raise ValueError("give at least one of name, iso_code")
        return self


class StateIn(_In):
    name: str = Field(min_length=1, max_length=120)
    country_id: int = Field(ge=1)

    _name = field_validator("name")(single_spaced)


class StatePatch(_In):
    name: str | None = Field(None, min_length=1, max_length=120)
    country_id: int | None = Field(None, ge=1)

    _name = field_validator("name")(single_spaced)

    @model_validator(mode="after")
    def _one_field(self):
        if self.name is None and self.country_id is None:
            raise ValueError("give at least one of name, country_id")
        return self


class CityIn(_In):
    name: str = Field(min_length=1, max_length=120)
    state_id: int = Field(ge=1)
    postal_code_prefix: str | None = Field(None, max_length=20)

    _name = field_validator("name")(single_spaced)


class CityPatch(_In):
    name: str | None = Field(None, min_length=1, max_length=120)
    state_id: int | None = Field(None, ge=1)
    postal_code_prefix: str | None = Field(None, max_length=20)

    _name = field_validator("name")(single_spaced)

    @model_validator(mode="after")
    def _one_field(self):
        if self.name is None and self.state_id is None and self.postal_code_prefix is None:
            raise ValueError("give at least one of name, state_id, postal_code_prefix")
        return self


class AddressIn(_In):
    street_address: str = Field(min_length=1, max_length=255)
    city_id: int = Field(ge=1)
    state_id: int = Field(ge=1)
    country_id: int = Field(ge=1)
    postal_code: str | None = Field(None, max_length=20)
    lat: float | None = Field(None, ge=-90, le=90)
    lan: float | None = Field(None, ge=-180, le=180)
    is_primary: bool | None = None
    company_id: uuid.UUID | None = None  # super admins only

    _street = field_validator("street_address")(single_spaced)


class CompanyQuery(_In):
    company_id: uuid.UUID | None = None


# --- output ---------------------------------------------------------------------------

def ref(obj) -> dict | None:
    return {"id": obj.id, "name": obj.name} if obj is not None else None


def country_out(country, *, with_states: bool = False) -> dict:
    out = {"id": country.id, "name": country.name, "iso_code": country.iso_code, "iso2": country.iso_code,
           "created_at": iso(country.created_at), "updated_at": iso(country.updated_at)}
    if with_states:
        states = [ref(s) for s in country.states]
        out["state"] = states      # the original server's key
        out["states"] = states     # the Python SDK's docstring key
    return out


def state_out(state, *, with_cities: bool = False) -> dict:
    out = {"id": state.id, "name": state.name, "country_id": state.country_id, "country": ref(state.country),
           "created_at": iso(state.created_at), "updated_at": iso(state.updated_at)}
    if with_cities:
        cities = [{"id": c.id, "name": c.name, "postal_code_prefix": c.postal_code_prefix} for c in state.cities]
        out["city"] = cities
        out["cities"] = cities
    return out


def city_out(city) -> dict:
    return {"id": city.id, "name": city.name, "postal_code_prefix": city.postal_code_prefix,
            "state_id": city.state_id, "state": ref(city.state), "country": ref(city.state.country),
            "created_at": iso(city.created_at), "updated_at": iso(city.updated_at)}


def address_out(address) -> dict:
    return {"id": address.id, "company_id": sid(address.company_id), "street_address": address.street_address,
            "city": ref(address.city), "state": ref(address.state), "country": ref(address.country),
            "city_id": address.city_id, "state_id": address.state_id, "country_id": address.country_id,
            "postal_code": address.postal_code, "lat": address.lat, "lan": address.lan,
            "is_primary": address.is_primary,
            "created_at": iso(address.created_at), "updated_at": iso(address.updated_at)}


class RefOut(BaseModel):
    id: int
    name: str


class CountryOut(Open):
    """`country_out`; one country (`/country/<id>`) also lists its states as `state` and `states`."""

    id: int
    name: str
    iso_code: str | None
    iso2: str | None
    created_at: datetime | None
    updated_at: datetime | None


class CountryWithStatesOut(CountryOut):
    state: list[RefOut]
    states: list[RefOut]


class CityRefOut(RefOut):
    postal_code_prefix: str | None


class StateOut(Open):
    id: int
    name: str
    country_id: int
    country: RefOut | None
    created_at: datetime | None
    updated_at: datetime | None


class StateWithCitiesOut(StateOut):
    city: list[CityRefOut]
    cities: list[CityRefOut]


class CityOut(Open):
    id: int
    name: str
    postal_code_prefix: str | None
    state_id: int
    state: RefOut | None
    country: RefOut | None
    created_at: datetime | None
    updated_at: datetime | None


class AddressOut(Open):
    id: int
    company_id: uuid.UUID | None
    street_address: str | None
    city: RefOut | None
    state: RefOut | None
    country: RefOut | None
    city_id: int | None
    state_id: int | None
    country_id: int | None
    postal_code: str | None
    lat: float | None
    lan: float | None
    is_primary: bool | None
    created_at: datetime | None
    updated_at: datetime | None


class AddressListOut(Open):
    success: bool
    address: list[AddressOut]
    addresses: list[AddressOut]


class SeedOut(Open):
    success: bool
    message: str
    created: dict[str, int]
    totals: dict[str, int]
