"""Accounts, sessions and verification mail through knowrithm-py."""
from __future__ import annotations

import uuid

import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError

from tests.auth.conftest import token_in
from tests.infra.test_conventions import assert_envelope

GOOD_PASSWORD = "Str0ng-enough-pass"


def api_error(call) -> KnowrithmAPIError:
    with pytest.raises(KnowrithmAPIError) as info:
        call()
    return info.value


def count_users(app, **where) -> int:
    from sqlalchemy import func, select

    from knowrithm.domains.auth.models import User
    from knowrithm.infra.db import db

    with app.app_context():
        stmt = select(func.count(User.id)).execution_options(include_deleted=True)
        for field, value in where.items():
            stmt = stmt.where(getattr(User, field) == value)
        n = db.session.execute(stmt).scalar()
        db.session.remove()
        return n


# --- A1 super admin --------------------------------------------------------------------

def test_super_admin_seed_is_idempotent(http, app):
    first = http.get("/api/v1/auth/super-admin")
    second = http.get("/api/v1/auth/super-admin", headers={"X-API-Key": "ak_bad", "X-API-Secret": "as_bad"})
    assert first.status_code == second.status_code == 200
    # Public: it says whether the account exists, never who it is.
    assert first.json() == second.json() == {"message": "Super admin is ready", "exists": True}
    assert count_users(app, role="super_admin") == 1


# --- A2 registration -------------------------------------------------------------------

def test_register_with_company_name_creates_company_and_admin(sdk_factory, app):
    body = sdk_factory().auth.register_admin({
        "first_name": "Grace", "last_name": "Hopper", "email": "Grace@Navy.test", "password": GOOD_PASSWORD,
        "company_name": "Navy Labs", "accept_terms": True})
    assert body["user"]["email"] == "grace@navy.test"
    assert body["user"]["role"] == "admin" and body["user"]["email_verified"] is False
    assert body["user"]["username"].startswith("grace")  # derived from the email (D-16)
    assert body["company"]["name"] == "Navy Labs"
    assert body["user"]["company_id"] == body["company"]["id"]
    assert body["access_token"] and body["refresh_token"]
    assert "task_id" not in body and "status_url" not in body
    me = sdk_factory().auth.get_current_user(headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me["company"]["id"] == body["company"]["id"]


def test_register_with_company_id_variant(sdk_factory, celery_worker):
    # The SDK flow of a fresh install: create the company (public), then register its admin.
    sdk = sdk_factory()
    created = sdk.companies.create_company({"name": "Fresh Co", "email": "hello@fresh.test"})
    company_id = (created.get("company") or created)["id"]
    body = sdk.auth.register_admin({"company_id": company_id, "email": "owner@fresh.test", "username": "freshowner",
                                    "password": GOOD_PASSWORD, "first_name": "O", "last_name": "Wner"})
    assert body["user"]["company_id"] == company_id and body["user"]["username"] == "freshowner"
    # A company that has users only gains more through its admins.
    err = api_error(lambda: sdk.auth.register_admin({"company_id": company_id, "email": "intruder@evil.test",
                                                     "username": "intruder", "password": GOOD_PASSWORD}))
    assert err.status_code == 403 and err.error_code == "COMPANY_HAS_USERS"


def test_register_into_existing_company_is_refused(sdk_factory, companies, app):
    before = count_users(app)
    err = api_error(lambda: sdk_factory().auth.register_admin({
        "company_id": str(companies[0].company_id), "email": "x@acme2.test", "username": "takeover",
        "password": GOOD_PASSWORD, "first_name": "X", "last_name": "Y"}))
    assert err.status_code == 403
    assert count_users(app) == before


def test_register_unknown_company_id_is_404(sdk_factory):
    err = api_error(lambda: sdk_factory().auth.register_admin({
        "company_id": str(uuid.uuid4()), "email": "a@b.test", "password": GOOD_PASSWORD}))
    assert err.status_code == 404


def test_register_duplicate_email_or_username_is_409(sdk_factory, companies, app):
    sdk = sdk_factory()
    err = api_error(lambda: sdk.auth.register_admin({"company_name": "Dup", "email": companies[0].admin_email.upper(),
                                                     "password": GOOD_PASSWORD}))
    assert err.status_code == 409 and "email" in err.response_data["details"]
    err = api_error(lambda: sdk.auth.register_admin({"company_name": "Dup", "email": "new@dup.test",
                                                     "username": "admin_acme", "password": GOOD_PASSWORD}))
    assert err.status_code == 409 and "username" in err.response_data["details"]
    assert count_users(app, email="new@dup.test") == 0


@pytest.mark.parametrize("password, problem", [
    ("short1", "at least 8"), ("onlyletterslong", "digit or a symbol"), ("12345678901", "letter"),
    ("password1", "too common"), ("weak@user.test", "email"),
])
def test_register_weak_password_is_400_with_details(http, password, problem):
    resp = http.post("/api/v1/auth/register", json={"company_name": "W", "email": "weak@user.test",
                                                    "password": password})
    body = assert_envelope(resp, 400, "VALIDATION_ERROR")
    assert any(problem in msg for msg in body["details"]["password"])


def test_register_bad_fields_are_400(http):
    body = assert_envelope(http.post("/api/v1/auth/register", json={"email": "not-an-email", "username": "a b"}),
                           400, "VALIDATION_ERROR")
    assert {"email", "username", "password"} <= set(body["details"])
    body = assert_envelope(http.post("/api/v1/auth/register", json={"email": "a@b.test", "password": GOOD_PASSWORD}),
                           400)
    assert "company_name" in body["details"]


def test_public_registration_can_be_switched_off(sdk_factory, settings, monkeypatch, app):
    monkeypatch.setattr(settings, "ALLOW_PUBLIC_REGISTRATION", False)
    err = api_error(lambda: sdk_factory().auth.register_admin({"company_name": "Closed", "email": "c@closed.test",
                                                               "password": GOOD_PASSWORD}))
    assert err.status_code == 403 and err.error_code == "REGISTRATION_DISABLED"
    assert count_users(app, email="c@closed.test") == 0


# --- A3 login and lockout --------------------------------------------------------------

def test_login_returns_tokens_and_user(sdk_factory, companies):
    body = sdk_factory().auth.login(companies[0].admin_email, companies[0].password)
    assert body["access_token"] and body["refresh_token"] and body["expires_in"] > 0
    assert body["user"]["id"] == str(companies[0].admin_id)
    assert {"id", "email", "first_name", "last_name", "role", "status"} <= set(body["user"])
    assert body["tokens"]["access_token"] == body["access_token"]  # CLI reads tokens.*


def test_wrong_password_is_401_and_lockout_after_five_is_423(sdk_factory, companies, app, super_admin_token, http):
    sdk, tenant = sdk_factory(), companies[0]
    for _ in range(5):
        err = api_error(lambda: sdk.auth.login(tenant.admin_email, "wrong-password-1"))
        assert err.status_code == 401 and err.error_code == "INVALID_CREDENTIALS"
    err = api_error(lambda: sdk.auth.login(tenant.admin_email, tenant.password))
    assert err.status_code == 423 and err.error_code == "ACCOUNT_LOCKED"
    assert count_users(app, email=tenant.admin_email, login_attempts=5) == 1
    # Failures and the lock are audited.
    from sqlalchemy import select

    from knowrithm.domains.audit.models import AuditLog
    from knowrithm.infra.db import db

    with app.app_context():
        events = db.session.execute(select(AuditLog.event_type).where(AuditLog.user_id == tenant.admin_id)).scalars()
        events = list(events)
        db.session.remove()
    assert events.count("auth.login_failed") == 4 and "auth.account_locked" in events


def test_locked_account_token_gets_423_on_me(sdk_factory, companies, app, login):
    from datetime import timedelta

    from knowrithm.domains.auth.models import User
    from knowrithm.infra.db import db, utcnow

    _, headers = login(companies[0].admin_email, companies[0].password)
    with app.app_context():
        db.session.get(User, companies[0].admin_id).locked_until = utcnow() + timedelta(minutes=5)
        db.session.commit()
        db.session.remove()
    err = api_error(lambda: sdk_factory().auth.get_current_user(headers=headers))
    assert err.status_code == 423


def test_login_unknown_email_is_401(sdk_factory):
    err = api_error(lambda: sdk_factory().auth.login("nobody@nowhere.test", "whatever-123"))
    assert err.status_code == 401


def test_login_is_rate_limited_per_ip_and_email(http, companies):
    statuses = [http.post("/api/v1/auth/login", json={"email": "spray@nowhere.test", "password": "x"}).status_code
                for _ in range(11)]
    assert statuses[:10] == [401] * 10
    resp = http.post("/api/v1/auth/login", json={"email": "spray@nowhere.test", "password": "x"})
    body = assert_envelope(resp, 429, "RATE_LIMITED")
    assert int(resp.headers["Retry-After"]) >= 1 and body["details"]["retry_after"] >= 1
    # Another email from the same address still has its own budget.
    ok = http.post("/api/v1/auth/login", json={"email": companies[0].admin_email, "password": companies[0].password})
    assert ok.status_code == 200


# --- A4 refresh, A5 logout -------------------------------------------------------------

def test_refresh_rotates_tokens(sdk_factory, companies, login):
    tokens, _ = login(companies[0].admin_email, companies[0].password)
    sdk = sdk_factory()
    new = sdk.auth.refresh_access_token(tokens["refresh_token"])
    assert new["access_token"] != tokens["access_token"] and new["refresh_token"] != tokens["refresh_token"]
    me = sdk.auth.get_current_user(headers={"Authorization": f"Bearer {new['access_token']}"})
    assert me["user"]["id"] == str(companies[0].admin_id)
    err = api_error(lambda: sdk.auth.refresh_access_token(tokens["refresh_token"]))  # used once already
    assert err.status_code == 401 and err.error_code == "TOKEN_REVOKED"


def test_refresh_accepts_a_json_body(http, companies, login):
    tokens, _ = login(companies[0].admin_email, companies[0].password)
    resp = http.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert resp.status_code == 200 and resp.json()["access_token"]


def test_refresh_rejects_access_tokens_and_garbage(sdk_factory, companies, login, http):
    tokens, _ = login(companies[0].admin_email, companies[0].password)
    err = api_error(lambda: sdk_factory().auth.refresh_access_token(tokens["access_token"]))
    assert err.status_code == 401
    assert_envelope(http.post("/api/v1/auth/refresh"), 401, "TOKEN_MISSING")
    assert_envelope(http.post("/api/v1/auth/refresh", headers={"Authorization": "Bearer x.y.z"}), 401)


def test_logout_revokes_access_and_refresh(sdk_factory, companies, login):
    tokens, headers = login(companies[0].admin_email, companies[0].password)
    sdk = sdk_factory()
    assert sdk.auth.logout(headers)["message"]
    err = api_error(lambda: sdk.auth.get_current_user(headers=headers))
    assert err.status_code == 401 and err.error_code == "TOKEN_REVOKED"
    # The SDK sends no refresh token on logout; the session's refresh token dies anyway.
    err = api_error(lambda: sdk.auth.refresh_access_token(tokens["refresh_token"]))
    assert err.status_code == 401


def test_logout_needs_a_jwt(sdk_a):
    err = api_error(lambda: sdk_a.auth.logout({}))
    assert err.status_code == 401


def test_expired_and_forged_tokens_are_401(sdk_factory, app, companies):
    import jwt as pyjwt

    from knowrithm.domains.auth import tokens
    from knowrithm.domains.auth.models import User
    from knowrithm.infra.db import db

    with app.test_request_context():
        user = db.session.get(User, companies[0].admin_id)
        expired, _ = tokens.issue(str(user.id), kind="access", ttl=-10)
        db.session.remove()
    forged = pyjwt.encode({"sub": str(companies[0].admin_id), "type": "access", "exp": 4102444800, "jti": "x"},
                          "not-the-server-key-but-long-enough-for-hs256", algorithm="HS256")
    sdk = sdk_factory()
    for token, code in ((expired, "TOKEN_EXPIRED"), (forged, "TOKEN_INVALID"), ("not-a-jwt", "TOKEN_INVALID")):
        err = api_error(lambda: sdk.auth.get_current_user(headers={"Authorization": f"Bearer {token}"}))
        assert err.status_code == 401 and err.error_code == code


def test_a_token_that_worked_is_refused_once_it_expires(sdk_factory, app, companies):
    """Verified tokens are remembered per process (tokens._verify); expiry still applies on every use."""
    import time

    from knowrithm.domains.auth import tokens
    from knowrithm.domains.auth.models import User
    from knowrithm.infra.db import db

    with app.test_request_context():
        user = db.session.get(User, companies[0].admin_id)
        token, payload = tokens.issue(str(user.id), kind="access", ttl=2,
                                      claims={"role": user.role, "company_id": str(user.company_id)})
        db.session.remove()
    sdk = sdk_factory()
    headers = {"Authorization": f"Bearer {token}"}
    assert sdk.auth.get_current_user(headers=headers)["user"]["id"] == str(companies[0].admin_id)
    time.sleep(max(0.0, payload["exp"] - time.time()) + 0.2)
    err = api_error(lambda: sdk.auth.get_current_user(headers=headers))
    assert err.status_code == 401 and err.error_code == "TOKEN_EXPIRED"


# --- A8 me, A9 create user -------------------------------------------------------------

def test_me_with_jwt_and_with_key(sdk_a, companies, admin_a):
    by_jwt = sdk_a.auth.get_current_user(headers=admin_a)
    by_key = sdk_a.auth.get_current_user(headers={})
    for body in (by_jwt, by_key):
        assert body["user"]["id"] == str(companies[0].admin_id)
        assert body["company"]["id"] == str(companies[0].company_id) and body["company"]["name"] == "Acme"


def test_admin_creates_user_in_own_company(sdk_factory, companies, admin_a, login):
    body = sdk_factory().auth.create_user({"email": "staff@acme.test", "username": "acme_staff",
                                           "password": GOOD_PASSWORD, "first_name": "S", "last_name": "Taff"},
                                          headers=admin_a)
    assert body["user"]["company_id"] == str(companies[0].company_id) and body["user"]["role"] == "user"
    _, staff = login("staff@acme.test", GOOD_PASSWORD)
    # A plain user may not create users.
    err = api_error(lambda: sdk_factory().auth.create_user({"email": "x@acme.test", "password": GOOD_PASSWORD},
                                                           headers=staff))
    assert err.status_code == 403


def test_create_user_company_id_is_only_honoured_for_super_admin(sdk_factory, companies, admin_a,
                                                                 super_admin_token):
    sdk = sdk_factory()
    body = sdk.auth.create_user({"email": "sneaky@x.test", "password": GOOD_PASSWORD,
                                 "company_id": str(companies[1].company_id)}, headers=admin_a)
    assert body["user"]["company_id"] == str(companies[0].company_id)  # ignored for an admin
    body = sdk.auth.create_user({"email": "placed@globex.test", "password": GOOD_PASSWORD, "role": "admin",
                                 "company_id": str(companies[1].company_id)},
                                headers={"Authorization": f"Bearer {super_admin_token}"})
    assert body["user"]["company_id"] == str(companies[1].company_id) and body["user"]["role"] == "admin"
    err = api_error(lambda: sdk.auth.create_user({"email": "nowhere@x.test", "password": GOOD_PASSWORD},
                                                 headers={"Authorization": f"Bearer {super_admin_token}"}))
    assert err.status_code == 403  # a super admin must say which company


def test_create_user_with_write_key(sdk_for, companies, app):
    writer = sdk_for(companies[0], scopes=("write",))
    body = writer.auth.create_user({"email": "keyed@acme.test", "password": GOOD_PASSWORD})
    assert body["user"]["company_id"] == str(companies[0].company_id)
    reader = sdk_for(companies[0], scopes=("read",))
    err = api_error(lambda: reader.auth.create_user({"email": "nope@acme.test", "password": GOOD_PASSWORD}))
    assert err.status_code == 403
    assert count_users(app, email="nope@acme.test") == 0


def test_create_user_bad_input_and_duplicates(sdk_factory, admin_a, companies):
    sdk = sdk_factory()
    err = api_error(lambda: sdk.auth.create_user({"email": "bad", "password": "x"}, headers=admin_a))
    assert err.status_code == 400 and "email" in err.response_data["details"]
    err = api_error(lambda: sdk.auth.create_user({"email": "r@acme.test", "password": GOOD_PASSWORD,
                                                  "role": "super_admin"}, headers=admin_a))
    assert err.status_code == 400 and "role" in err.response_data["details"]
    err = api_error(lambda: sdk.auth.create_user({"email": companies[1].admin_email, "password": GOOD_PASSWORD},
                                                 headers=admin_a))
    assert err.status_code == 409


# --- A6/A7 email verification, password reset -------------------------------------------

def test_verification_mail_round_trip(sdk_factory, smtp_server, celery_worker, app):
    sdk = sdk_factory()
    reg = sdk.auth.register_admin({"company_name": "Mailco", "email": "new@mailco.test", "password": GOOD_PASSWORD})
    first = smtp_server.wait_for("new@mailco.test", "Verify")  # registration mails at once
    assert token_in(first, "verification token")
    assert sdk.auth.send_verification_email("new@mailco.test")["message"]
    assert sdk.auth.send_verification_email("stranger@mailco.test")["message"]  # same answer, no mail
    import time

    deadline = time.time() + 30
    while len(smtp_server.to("new@mailco.test")) < 2 and time.time() < deadline:
        time.sleep(0.05)
    mail = smtp_server.to("new@mailco.test")[-1]
    token = token_in(mail, "verification token")
    body = sdk.auth.verify_email(token)
    assert body["user"]["email_verified"] is True
    me = sdk.auth.get_current_user(headers={"Authorization": f"Bearer {reg['access_token']}"})
    assert me["user"]["email_verified"] is True
    err = api_error(lambda: sdk.auth.verify_email(token))  # one use only
    assert err.status_code == 400 and err.error_code == "INVALID_TOKEN"
    assert smtp_server.to("stranger@mailco.test") == []


def test_verify_rejects_garbage(sdk_factory, http):
    err = api_error(lambda: sdk_factory().auth.verify_email("garbage"))
    assert err.status_code == 400 and "token" in err.response_data["details"]
    assert_envelope(http.post("/api/v1/verify", json={}), 400, "VALIDATION_ERROR")
    assert_envelope(http.post("/api/v1/send", json={"email": "nope"}), 400, "VALIDATION_ERROR")


def test_password_reset_mail(http, companies, smtp_server, celery_worker, app, login, sdk_factory):
    from knowrithm.domains.auth.email import send_password_reset
    from knowrithm.domains.auth.models import User
    from knowrithm.infra.db import db

    tenant = companies[0]
    old_tokens, old_headers = login(tenant.admin_email, tenant.password)
    with app.test_request_context():
        assert send_password_reset(db.session.get(User, tenant.admin_id)) is True
        db.session.remove()
    token = token_in(smtp_server.wait_for(tenant.admin_email, "Reset"), "Or send this token")
    weak = http.post("/api/v1/auth/reset-password", json={"token": token, "password": "weak"})
    assert_envelope(weak, 400, "VALIDATION_ERROR")
    import time

    time.sleep(1.05)  # tokens carry whole-second issue times; the change must be strictly later
    ok = http.post("/api/v1/auth/reset-password", json={"token": token, "password": "Brand-new-pass-42"})
    assert ok.status_code == 200, ok.text
    again = http.post("/api/v1/auth/reset-password", json={"token": token, "password": "Another-pass-42"})
    assert_envelope(again, 400)
    assert login(tenant.admin_email, "Brand-new-pass-42")[0]["access_token"]
    err = api_error(lambda: sdk_factory().auth.get_current_user(headers=old_headers))
    assert err.status_code == 401  # sessions from before the change are over


def test_forgot_password_mails_through_resend(http, companies, resend_server, celery_worker):
    resp = http.post("/api/v1/auth/forgot-password", json={"email": companies[0].admin_email})
    assert resp.status_code == 200
    import time

    deadline = time.time() + 30
    while not resend_server and time.time() < deadline:
        time.sleep(0.05)
    assert resend_server, "the Resend endpoint received nothing"
    sent = resend_server[0]
    assert sent["path"] == "/emails" and sent["auth"] == "Bearer re_test_key"
    assert sent["body"]["to"] == [companies[0].admin_email] and "reset-password" in sent["body"]["text"]


def test_no_mail_transport_queues_nothing(app, companies):
    from sqlalchemy import func, select

    from knowrithm.domains.auth.email import send_verification_email
    from knowrithm.domains.auth.models import User
    from knowrithm.infra.db import db
    from knowrithm.infra.tasks import TaskRecord

    with app.test_request_context():
        assert send_verification_email(db.session.get(User, companies[0].admin_id)) is False
        assert db.session.execute(select(func.count(TaskRecord.id))).scalar() == 0
        db.session.remove()
