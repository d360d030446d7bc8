"""The caller's own profile (read, update, preferences) through knowrithm-py."""
from __future__ import annotations

import uuid

import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError

from tests.auth.conftest import admin_a, admin_b, login  # noqa: F401  (fixtures)


def api_error(call) -> KnowrithmAPIError:
    with pytest.raises(KnowrithmAPIError) as info:
        call()
    return info.value


def test_get_profile_with_key_and_jwt(sdk_a, admin_a, companies):  # noqa: F811
    for headers in ({}, admin_a):
        user = sdk_a.users.get_profile(headers)["user"]
        assert user["id"] == str(companies[0].admin_id)
        assert user["timezone"] == "UTC" and user["language"] == "en" and user["preferences"] == {}


def test_update_profile(sdk_a, admin_a, app):  # noqa: F811
    body = sdk_a.users.update_profile({"first_name": "Ada", "last_name": "Lovelace", "timezone": "Europe/London",
                                       "language": "en-GB", "preferences": {"theme": "dark"}, "unknown": 1},
                                      headers=admin_a)
    user = body["user"]
    assert (user["first_name"], user["last_name"], user["timezone"], user["language"]) == \
        ("Ada", "Lovelace", "Europe/London", "en-GB")
    assert user["preferences"] == {"theme": "dark"}
    assert sdk_a.users.get_profile({})["user"]["timezone"] == "Europe/London"
    # A partial update leaves the other fields alone.
    assert sdk_a.users.update_profile({"language": "fr"}, headers={})["user"]["timezone"] == "Europe/London"


def test_update_profile_bad_input(sdk_a, app, companies):
    err = api_error(lambda: sdk_a.users.update_profile({"timezone": "Mars/Olympus", "first_name": "",
                                                        "language": "!!"}, headers={}))
    assert err.status_code == 400
    assert {"timezone", "first_name", "language"} <= set(err.response_data["details"])
    assert sdk_a.users.get_profile({})["user"]["timezone"] == "UTC"


def test_update_profile_needs_write(sdk_for, companies):
    reader = sdk_for(companies[0], scopes=("read",))
    assert api_error(lambda: reader.users.update_profile({"language": "de"}, headers={})).status_code == 403
    assert reader.users.get_profile({})["user"]["language"] == "en"


def test_get_user(sdk_a, admin_a, companies):  # noqa: F811
    body = sdk_a.users.get_user(str(companies[0].admin_id), admin_a)
    assert body["success"] is True and body["timestamp"]
    assert body["data"]["id"] == str(companies[0].admin_id) and body["data"]["email"] == companies[0].admin_email
    by_key = sdk_a.users.get_user(str(companies[0].admin_id), {})
    assert by_key["data"]["id"] == str(companies[0].admin_id)


def test_get_user_cross_company_is_404(sdk_a, sdk_b, admin_b, companies):  # noqa: F811
    a_admin = str(companies[0].admin_id)
    assert api_error(lambda: sdk_b.users.get_user(a_admin, admin_b)).status_code == 404  # B's admin JWT
    assert api_error(lambda: sdk_b.users.get_user(a_admin, {})).status_code == 404  # B's key
    assert api_error(lambda: sdk_a.users.get_user(str(uuid.uuid4()), {})).status_code == 404
    assert api_error(lambda: sdk_a.users.get_user("not-a-uuid", {})).status_code == 404


def test_super_admin_sees_any_user(sdk_factory, super_admin_token, companies):
    body = sdk_factory().users.get_user(str(companies[1].admin_id),
                                        {"Authorization": f"Bearer {super_admin_token}"})
    assert body["data"]["company_id"] == str(companies[1].company_id)


def test_plain_user_cannot_look_up_users(sdk_factory, admin_a, login, companies):  # noqa: F811
    sdk = sdk_factory()
    sdk.auth.create_user({"email": "plain@acme.test", "password": "Plain-user-pass-1"}, headers=admin_a)
    _, plain = login("plain@acme.test", "Plain-user-pass-1")
    assert api_error(lambda: sdk.users.get_user(str(companies[0].admin_id), plain)).status_code == 403
    assert sdk.users.get_profile(plain)["user"]["email"] == "plain@acme.test"


def test_profile_route_wins_over_user_id(sdk_a):
    # `/user/profile` must not be taken for a user id (would be a 404).
    assert "user" in sdk_a.users.get_profile({})
