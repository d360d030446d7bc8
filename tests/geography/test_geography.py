"""Geography and company addresses through knowrithm-py."""
import uuid

import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError

from tests.admin.helpers import admin_headers, audit_rows, user_headers


@pytest.fixture
def sdk_root(app, companies, sdk_factory):
    """knowrithm-py with an API key of the super admin (acting in company A)."""
    from sqlalchemy import select

    from knowrithm.domains.auth.api_keys import create_api_key
    from knowrithm.domains.auth.models import User
    from knowrithm.infra.db import db

    with app.app_context():
        root = db.session.execute(select(User).where(User.role == "super_admin")).scalar_one()
        row, secret = create_api_key(user=root, name="root", scopes=["full_access"],
                                     company_id=companies[0].company_id)
        key = row.key
        db.session.remove()
    return sdk_factory(key, secret)


def _name(prefix: str) -> str:
    # Reference tables survive between tests: every test makes names of its own.
    return f"{prefix} {uuid.uuid4().hex[:10]}"


def _iso() -> str:
    return "X" + "".join(chr(65 + int(c, 16) % 26) for c in uuid.uuid4().hex[:2])


def test_seed_is_public_idempotent_and_lists_are_bare_arrays(sdk_factory):
    anon = sdk_factory("ak_bad", "as_bad")  # stale credentials never break a public route
    first = anon.addresses.seed_reference_data()
    assert first["totals"]["countries"] >= 10 and first["totals"]["cities"] >= 30
    again = anon.addresses.seed_reference_data()
    assert again["created"] == {"countries": 0, "states": 0, "cities": 0}
    assert again["totals"] == first["totals"]

    countries = anon.addresses.list_countries()
    assert isinstance(countries, list)
    us = next(c for c in countries if c["iso_code"] == "US")
    assert us["name"] == "United States" and isinstance(us["id"], int)
    country = anon.addresses.get_country(us["id"])
    assert {s["name"] for s in country["state"]} >= {"California", "Texas"} and country["states"] == country["state"]

    states = anon.addresses.list_states_by_country(us["id"])
    assert isinstance(states, list) and all(s["country"] == {"id": us["id"], "name": "United States"} for s in states)
    texas = next(s for s in states if s["name"] == "Texas")
    state = anon.addresses.get_state(texas["id"])
    assert {c["name"] for c in state["city"]} == {"Houston", "Austin", "Dallas"} and state["cities"] == state["city"]

    cities = anon.addresses.list_cities_by_state(texas["id"])
    assert isinstance(cities, list) and len(cities) == 3
    austin = anon.addresses.get_city(next(c["id"] for c in cities if c["name"] == "Austin"))
    assert austin["state"]["name"] == "Texas" and austin["country"]["name"] == "United States"
    assert austin["postal_code_prefix"] == "787"


def test_missing_ids_are_404(sdk_factory):
    anon = sdk_factory()
    for call in (lambda: anon.addresses.get_country(999999), lambda: anon.addresses.get_state(999999),
                 lambda: anon.addresses.get_city(999999), lambda: anon.addresses.list_states_by_country(999999),
                 lambda: anon.addresses.list_cities_by_state(999999)):
        with pytest.raises(KnowrithmAPIError) as err:
            call()
        assert err.value.status_code == 404


def test_super_admin_writes_country_state_city_with_409_on_duplicates(app, companies, sdk_root, celery_worker):
    name, iso = _name("Testland"), _iso()
    country = sdk_root.addresses.create_country(name, iso.lower())
    assert country["name"] == name and country["iso_code"] == iso and isinstance(country["id"], int)
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_root.addresses.create_country(name.upper())
    assert err.value.status_code == 409 and "name" in err.value.response_data["details"]
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_root.addresses.create_country(_name("Other"), iso)
    assert err.value.status_code == 409 and "iso_code" in err.value.response_data["details"]

    # The task audits the change with the caller the route captured (key, company, IP).
    created = [r for r in audit_rows(app, "geography.country_created") if r.entity_id == str(country["id"])]
    assert len(created) == 1 and created[0].api_key_id is not None
    assert created[0].company_id == companies[0].company_id and created[0].ip_address == "127.0.0.1"

    renamed = sdk_root.addresses.update_country(country["id"], name=name + " Renamed")
    assert renamed["name"] == name + " Renamed" and renamed["iso_code"] == iso

    state = sdk_root.addresses.create_state("North", country["id"])
    assert state["country"] == {"id": country["id"], "name": name + " Renamed"}
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_root.addresses.create_state("north", country["id"])
    assert err.value.status_code == 409
    south = sdk_root.addresses.create_state("South", country["id"])
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_root.addresses.update_state(south["id"], name="North")
    assert err.value.status_code == 409
    assert sdk_root.addresses.update_state(south["id"], name="Deep South")["name"] == "Deep South"

    city = sdk_root.addresses.create_city("Capital", state["id"], postal_code_prefix="12")
    assert city["state"]["id"] == state["id"] and city["postal_code_prefix"] == "12"
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_root.addresses.create_city("CAPITAL", state["id"])
    assert err.value.status_code == 409
    moved = sdk_root.addresses.update_city(city["id"], state_id=south["id"], postal_code_prefix="34")
    assert moved["state"] == {"id": south["id"], "name": "Deep South"} and moved["postal_code_prefix"] == "34"
    assert [c["name"] for c in sdk_root.addresses.list_cities_by_state(south["id"])] == ["Capital"]
    assert sdk_root.addresses.list_cities_by_state(state["id"]) == []


def test_bad_geography_input_is_400_with_details(companies, sdk_root, http):
    for payload, field in (({}, "name"), ({"name": "X", "iso_code": "ABCD"}, "iso_code"),
                           ({"name": "X", "iso_code": "1"}, "iso_code"), ({"name": "   "}, "name")):
        resp = http.post("/api/v1/country", json=payload, headers=sdk_root._session.headers)
        assert resp.status_code == 400, resp.text
        assert field in resp.json()["details"]
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_root.addresses.create_state("Nowhere", 999999)
    assert err.value.status_code == 400 and "country_id" in err.value.response_data["details"]
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_root.addresses.create_city("Nowhere", 999999)
    assert err.value.status_code == 400 and "state_id" in err.value.response_data["details"]
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_root.addresses.update_country(1)  # no fields: the SDK sends no body
    assert err.value.status_code == 400
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_root.addresses.update_country(999999, name="Ghost")
    assert err.value.status_code == 404


def test_geography_writes_need_the_super_admin(app, companies, sdk_for, http):
    reader = sdk_for(companies[0], scopes=("read", "write"))
    with pytest.raises(KnowrithmAPIError) as err:
        reader.addresses.create_country(_name("Denied"))
    assert err.value.status_code == 403
    plain = user_headers(app, http, companies[0])
    resp = http.post("/api/v1/country", json={"name": _name("Denied")}, headers=plain)
    assert resp.status_code == 403
    resp = http.post("/api/v1/country", json={"name": _name("Denied")})
    assert resp.status_code == 401
    # Shared reference data: a company admin (JWT or full_access key) is refused too.
    resp = http.post("/api/v1/state", json={"name": "Admin State", "country_id": 999999},
                     headers=admin_headers(http, companies[0]))
    assert resp.status_code == 403


def _seeded_city(sdk):
    sdk.addresses.seed_reference_data()
    us = next(c for c in sdk.addresses.list_countries() if c["iso_code"] == "US")
    ca = next(s for s in sdk.addresses.list_states_by_country(us["id"]) if s["name"] == "California")
    la = next(c for c in sdk.addresses.list_cities_by_state(ca["id"]) if c["name"] == "Los Angeles")
    return us, ca, la


def test_company_address_create_and_get(app, companies, sdk_a, sdk_b, celery_worker):
    us, ca, la = _seeded_city(sdk_a)
    first = sdk_a.addresses.create_address("1 Main St", la["id"], ca["id"], us["id"], lat=34.05, lan=-118.24,
                                           postal_code="90001")
    assert first["city"]["name"] == "Los Angeles" and first["lan"] == -118.24 and first["is_primary"] is True
    second = sdk_a.addresses.create_address("2 Side St", la["id"], ca["id"], us["id"], is_primary=True)
    listed = sdk_a.addresses.get_company_address()["address"]
    assert [a["id"] for a in listed] == [second["id"], first["id"]]
    assert [a["is_primary"] for a in listed] == [True, False]
    # The company now points at its primary address.
    assert sdk_a.companies.get_company()["address"]["id"] == second["id"]
    # Company B sees none of A's addresses.
    assert sdk_b.addresses.get_company_address()["address"] == []


def test_address_bad_input(companies, sdk_a):
    us, ca, la = _seeded_city(sdk_a)
    tx = next(s for s in sdk_a.addresses.list_states_by_country(us["id"]) if s["name"] == "Texas")
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.addresses.create_address("1 Main St", la["id"], tx["id"], us["id"])
    assert err.value.status_code == 400 and "city_id" in err.value.response_data["details"]
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.addresses.create_address("1 Main St", la["id"], ca["id"], us["id"], lat=123.0)
    assert err.value.status_code == 400 and "lat" in err.value.response_data["details"]
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.addresses.create_address("", la["id"], ca["id"], 999999)
    assert err.value.status_code == 400
