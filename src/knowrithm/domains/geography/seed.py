"""Idempotent reference-geography seed (run at bootstrap and by `GET /address-seed`)."""
from __future__ import annotations

from sqlalchemy import func, select

from knowrithm.infra.db import db

from .models import City, Country, State
from .seed_data import COUNTRIES


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
    totals = {
        "countries": db.session.scalar(select(func.count(Country.id))),
        "states": db.session.scalar(select(func.count(State.id))),
        "cities": db.session.scalar(select(func.count(City.id))),
    }
    return {"created": created, "totals": totals}
