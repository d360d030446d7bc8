"""Administration of users (list, status, role, forced reset, impersonation) through knowrithm-py."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError

from tests.admin.helpers import PLAIN_PASSWORD, admin_headers, audit_rows, bearer, load, login, make_user, user_headers


def _error(call) -> KnowrithmAPIError:
    with pytest.raises(KnowrithmAPIError) as err:
        call()
    return err.value


def _ids(body) -> set[str]:
    return {u["email"] for u in body["users"]}


@pytest.fixture
def people(app, companies):
    """Users of company A with distinct attributes for every filter."""
    a = companies[0]
    now = datetime.now(timezone.utc)
    made = {
        "fresh": make_user(app, a, email="fresh@acme.test", first_name="Fresh", timezone="Europe/Paris",
                           language="fr"),
        "veteran": make_user(app, a, email="veteran@acme.test", last_login=now - timedelta(days=2),
                             email_verified=True, two_factor_enabled=True, login_attempts=1),
        "locked": make_user(app, a, email="locked@acme.test", locked_until=now + timedelta(minutes=10),
                            login_attempts=6, last_login=now - timedelta(days=40)),
        "suspended": make_user(app, a, email="suspended@acme.test", status="suspended"),
        "boss": make_user(app, a, role="admin", email="boss@acme.test", last_login=now - timedelta(hours=1)),
        "gone": make_user(app, a, email="gone@acme.test", deleted_at=now),
    }
    make_user(app, companies[1], email="other@globex.test")
    return made


def test_list_users_filters_and_sorting(people, companies, sdk_a):
    everyone = sdk_a.admin.list_users()
    assert _ids(everyone) == {"admin@acme.test", "fresh@acme.test", "veteran@acme.test", "locked@acme.test",
                              "suspended@acme.test", "boss@acme.test"}
    assert everyone["pagination"] == {"page": 1, "per_page": 50, "total": 6, "pages": 1, "has_next": False,
                                      "has_prev": False}
    assert everyone["filters_applied"] == {"sort_by": "created_at", "sort_order": "desc"}

    assert _ids(sdk_a.admin.list_users(status="suspended")) == {"suspended@acme.test"}
    assert _ids(sdk_a.admin.list_users(role="admin")) == {"admin@acme.test", "boss@acme.test"}
    assert _ids(sdk_a.admin.list_users(two_factor_enabled=True)) == {"veteran@acme.test"}
    assert _ids(sdk_a.admin.list_users(email_verified=True)) == {"admin@acme.test", "veteran@acme.test"}
    assert _ids(sdk_a.admin.list_users(never_logged_in=False)) == {"veteran@acme.test", "locked@acme.test",
                                                                  "boss@acme.test"}
    assert _ids(sdk_a.admin.list_users(locked=True)) == {"locked@acme.test"}
    assert _ids(sdk_a.admin.list_users(high_login_attempts=True)) == {"locked@acme.test"}
    assert len(sdk_a.admin.list_users(high_login_attempts=False)["users"]) == 6
    assert _ids(sdk_a.admin.list_users(search="FRESH")) == {"fresh@acme.test"}
    assert _ids(sdk_a.admin.list_users(timezone="Europe/Paris", language="fr")) == {"fresh@acme.test"}
    week_ago = (datetime.now(timezone.utc) - timedelta(days=7)).isoformat()
    assert _ids(sdk_a.admin.list_users(last_login_after=week_ago)) == {"veteran@acme.test", "boss@acme.test"}
    assert _ids(sdk_a.admin.list_users(last_login_before=week_ago)) == {"locked@acme.test"}
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).date().isoformat()
    assert len(sdk_a.admin.list_users(created_before=tomorrow)["users"]) == 6
    assert sdk_a.admin.list_users(created_after=tomorrow)["users"] == []
    assert _ids(sdk_a.admin.list_users(only_deleted=True)) == {"gone@acme.test"}
    assert "gone@acme.test" in _ids(sdk_a.admin.list_users(include_deleted=True))

    by_attempts = sdk_a.admin.list_users(sort_by="login_attempts", sort_order="desc")["users"]
    assert [u["email"] for u in by_attempts[:2]] == ["locked@acme.test", "veteran@acme.test"]
    by_email = [u["email"] for u in sdk_a.admin.list_users(sort_by="email", sort_order="asc")["users"]]
    assert by_email == sorted(by_email)
    page = sdk_a.admin.list_users(page=2, per_page=4, sort_by="email", sort_order="asc")
    assert [u["email"] for u in page["users"]] == by_email[4:] and page["pagination"]["has_prev"] is True
    applied = sdk_a.admin.list_users(status="active", locked=False, high_login_attempts=True)["filters_applied"]
    assert applied["status"] == "active" and applied["high_login_attempts"] == 5 and "locked" not in applied


def test_list_users_aliases_roles_and_super_admin_company_route(app, people, companies, sdk_a, sdk_b, sdk_for,
                                                                sdk_factory, http, super_admin_token):
    assert _ids(sdk_b.admin.list_users()) == {"admin@globex.test", "other@globex.test"}
    assert http.get("/api/v1/admin/users?status=suspended", headers=admin_headers(http, companies[0])) \
        .json()["users"][0]["email"] == "suspended@acme.test"
    sa = sdk_factory()
    headers = bearer(super_admin_token)
    scoped = sa.admin.list_users(company_id=str(companies[1].company_id), headers=headers)
    assert _ids(scoped) == {"admin@globex.test", "other@globex.test"}
    assert len(sa.admin.list_users(headers=headers, search="@", per_page=200)["users"]) == 9  # platform-wide
    assert _error(lambda: sdk_a.admin.list_users(company_id=str(companies[1].company_id))).status_code == 403
    err = _error(lambda: sa.admin.list_users(company_id=str(uuid.uuid4()), headers=headers))
    assert err.status_code == 404
    writer = sdk_for(companies[0], scopes=("read", "write"))
    assert _error(lambda: writer.admin.list_users()).status_code == 403
    assert _error(lambda: sdk_a.admin.list_users(headers=user_headers(app, http, companies[0]))).status_code == 403
    assert audit_rows(app, "admin.users_listed")


def test_list_users_bad_input(people, sdk_a):
    for kwargs, field in (({"sort_by": "password_hash"}, "sort_by"), ({"sort_order": "up"}, "sort_order"),
                          ({"status": "zombie"}, "status"), ({"role": "viewer"}, "role"),
                          ({"created_after": "last tuesday"}, "created_after"), ({"per_page": 0}, "per_page")):
        err = _error(lambda: sdk_a.admin.list_users(**kwargs))
        assert err.status_code == 400 and field in err.response_data["details"], kwargs


def test_get_user_is_company_scoped_and_audited(app, people, companies, sdk_a, sdk_b):
    user = sdk_a.admin.get_user(str(people["veteran"]))
    assert user["data"]["email"] == "veteran@acme.test" and user["data"]["two_factor_enabled"] is True
    assert "password_hash" not in user["data"]
    viewed = audit_rows(app, "admin.user_viewed")
    assert viewed[-1].entity_id == str(people["veteran"]) and viewed[-1].api_key_id is not None
    assert _error(lambda: sdk_b.admin.get_user(str(people["veteran"]))).status_code == 404
    assert _error(lambda: sdk_a.admin.get_user("not-a-uuid")).status_code == 404


def test_update_user_status(app, people, companies, sdk_a, sdk_b, http):
    from knowrithm.domains.auth.models import User

    target = str(people["fresh"])
    token = login(http, "fresh@acme.test", PLAIN_PASSWORD)
    result = sdk_a.admin.update_user_status(target, "suspended", reason="abuse")
    assert result["user"]["status"] == "suspended"
    assert http.get("/api/v1/user/profile", headers=bearer(token)).status_code == 401  # sessions stop at once
    row = audit_rows(app, "admin.user_status_changed")[-1]
    assert row.details == {"from": "active", "to": "suspended", "reason": "abuse"} and row.risk_level == "high"

    # Reactivating also lifts a lockout.
    assert sdk_a.admin.update_user_status(str(people["locked"]), "active")["user"]["login_attempts"] == 0
    assert load(app, User, people["locked"]).locked_until is None

    assert _error(lambda: sdk_b.admin.update_user_status(target, "active")).status_code == 404
    assert load(app, User, people["fresh"]).status == "suspended"
    err = _error(lambda: sdk_a.admin.update_user_status(target, "banished"))
    assert err.status_code == 400 and "status" in err.response_data["details"]
    assert _error(lambda: sdk_a.admin.update_user_status(str(companies[0].admin_id), "inactive")).status_code == 403
    plain = user_headers(app, http, companies[0])
    assert _error(lambda: sdk_a.admin.update_user_status(target, "active", headers=plain)).status_code == 403


def test_update_user_role_is_super_admin_only(app, people, companies, sdk_a, sdk_factory, http, super_admin_token):
    from knowrithm.domains.auth.models import User

    target = str(people["fresh"])
    sa = sdk_factory()
    headers = bearer(super_admin_token)
    assert sa.admin.update_user_role(target, "admin", headers=headers)["user"]["role"] == "admin"
    assert audit_rows(app, "admin.user_role_changed")[-1].details == {"from": "user", "to": "admin"}
    assert _error(lambda: sdk_a.admin.update_user_role(target, "user")).status_code == 403
    err = _error(lambda: sdk_a.admin.update_user_role(target, "user", headers=admin_headers(http, companies[0])))
    assert err.status_code == 403
    assert load(app, User, people["fresh"]).role == "admin"
    err = _error(lambda: sa.admin.update_user_role(target, "viewer", headers=headers))
    assert err.status_code == 400 and "role" in err.response_data["details"]
    assert _error(lambda: sa.admin.update_user_role(str(uuid.uuid4()), "user", headers=headers)).status_code == 404


def test_force_password_reset_mails_the_user(app, people, companies, sdk_a, sdk_b, smtp_server, celery_worker):
    from knowrithm.domains.auth.models import User

    target = str(people["veteran"])
    assert _error(lambda: sdk_b.admin.force_password_reset(target)).status_code == 404
    assert load(app, User, people["veteran"]).must_reset_password is False

    result = sdk_a.admin.force_password_reset(target)
    assert result["email_sent"] is True and result["user_id"] == target
    assert load(app, User, people["veteran"]).must_reset_password is True
    mail = smtp_server.wait_for("veteran@acme.test", "Reset")
    assert "reset" in mail["Subject"].lower()
    assert audit_rows(app, "admin.password_reset_forced")[-1].entity_id == target


def test_impersonation(app, people, companies, sdk_a, sdk_factory, http, super_admin_token):
    sa = sdk_factory()
    headers = bearer(super_admin_token)
    root_id = http.get("/api/v1/auth/validate", headers=headers).json()["user"]["id"]
    result = sa.admin.impersonate_user(str(companies[0].admin_id), headers=headers)
    assert result["token"] == result["access_token"] and result["refresh_token"]
    assert result["user"]["email"] == "admin@acme.test" and result["impersonated_by"] == root_id
    started = audit_rows(app, "admin.impersonation_started")[-1]
    assert started.details == {"impersonator_id": root_id, "impersonated_user_id": str(companies[0].admin_id)}

    # The token acts as Acme's admin, and what it does is audited with both people.
    as_admin = bearer(result["access_token"])
    assert sdk_factory().companies.get_company(headers=as_admin)["name"] == "Acme"
    sdk_factory().admin.update_user_status(str(people["fresh"]), "inactive", headers=as_admin)
    row = audit_rows(app, "admin.user_status_changed")[-1]
    assert str(row.user_id) == str(companies[0].admin_id) and str(row.impersonator_id) == root_id

    assert _error(lambda: sdk_a.admin.impersonate_user(str(people["fresh"]))).status_code == 403
    err = _error(lambda: sdk_a.admin.impersonate_user(str(people["fresh"]), headers=admin_headers(http, companies[0])))
    assert err.status_code == 403
    assert _error(lambda: sa.admin.impersonate_user(root_id, headers=headers)).status_code == 403
    assert _error(lambda: sa.admin.impersonate_user(str(uuid.uuid4()), headers=headers)).status_code == 404
