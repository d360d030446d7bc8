"""Idempotent reference-geography seed (run at bootstrap; `GET /address-seed` on an empty platform)."""
from __future__ import annotations

from sqlalchemy import func, select

from knowrithm.domains.audit import service as audit
from knowrithm.infra.db import db

from .models import City, Country, State
from .seed_data import COUNTRIES


def seed_if_empty(actor) -> dict:
    """GET /address-seed (public). Countries, states and cities are shared by every company, so
    a caller seeds only a platform that has none; after that the data is the super admin's (a
    deleted or renamed country is not brought back), and the reply shows the totals. Operators
    add missing reference rows with `knowrithm db upgrade`, which runs `seed()`."""
    if db.session.execute(select(Country.id).limit(1)).first() is None:
        result = seed()
        audit.record("geography.seeded", actor=actor, company_id=None, entity_type="geography",
                     description="Reference geography seeded", details=result["created"])
        db.session.commit()
        return result
    return {"created": {"countries": 0, "states": 0, "cities": 0}, "totals": _totals()}


def seed() -> dict:
    """Adds whatever of `seed_data` is missing; never renames or removes. Returns counts."""
    created = {"countries": 0, "states": 0, "cities": 0}
    countries = {c.name.lower(): c for c in db.session.execute(select(Country)).scalars()}
    for country_name, (iso, states) in COUNTRIES.items():
        country = countries.get(country_name.lower())
        if country is None:
            # An operator may already have added the ISO code under another name: leave it off then.
            iso_taken = db.session.execute(select(Country.id).where(func.upper(Country.iso_code) == iso)).first()
            country = Country(name=country_name, iso_code=None if iso_taken else iso)
            db.session.add(country)
            db.session.flush()
            created["countries"] += 1
        existing_states = {s.name.lower(): s for s in db.session.execute(
            select(State).where(State.country_id == country.id)).scalars()}
        for state_name, cities in states.items():
            state = existing_states.get(state_name.lower())
            if state is None:
                state = State(name=state_name, country_id=country.id)
                db.session.add(state)
                db.session.flush()
                created["states"] += 1
            existing_cities = {c.lower() for c in db.session.execute(
                select(City.name).where(City.state_id == state.id)).scalars()}
            for city_name, prefix in cities:
                if city_name.lower() not in existing_cities:
                    db.session.add(City(name=city_name, state_id=state.id, postal_code_prefix=prefix))
                    created["cities"] += 1
    db.session.commit()
    return {"created": created, "totals": _totals()}


def _totals() -> dict:
    return {"countries": db.session.scalar(select(func.count(Country.id))),
            "states": db.session.scalar(select(func.count(State.id))),
            "cities": db.session.scalar(select(func.count(City.id)))}
