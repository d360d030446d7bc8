"""Authentication and API-key routes.

Login, refresh and registration answer synchronously: their tokens must never sit in a
task result, which anyone holding the task id may read (docs/api-compatibility.md, "Deliberate choices").
"""
from __future__ import annotations

from flask import current_app, g, request

from knowrithm.infra.api import ApiBlueprint
from knowrithm.infra.auth import (ADMIN_ROLES, JWT, PUBLIC, READ, Access, acting_company_id, current_principal,
                                  request_actor)
from knowrithm.infra.errors import Unauthorized
from knowrithm.infra.ratelimit import rate_limit
from knowrithm.infra.responses import MessageOut

from . import accounts, api_keys, service
from .schemas import (ApiKeyCreatedOut, ApiKeyIn, ApiKeyListOut, ApiKeyRevokedOut, CreateUserIn, CredentialsOut,
                      EmailIn, LoginIn, LoginOut, MeOut, RefreshIn, RefreshOut, RegisterIn, RegisterOut,
                      ResetPasswordIn, SuperAdminExistsOut, TokenIn, UserMessageOut, company_brief, user_out)
from .identity import credentials_report, me

bp = ApiBlueprint("auth", __name__, tag="auth")

# Adding a user: admins by JWT; a key needs `write` and must belong to an admin.
ADMIN_OR_WRITE_KEY = Access("admin_or_write_key", key_scope="write", roles=frozenset(ADMIN_ROLES))
# `/auth/validate` validates whatever credential arrives: any key scope will do.
ANY_CREDENTIAL = Access("any_credential", key_scope="read|write|update|delete|admin|full_access")


def _email_key(body, **_):
    return body.email.lower()


@bp.get("/auth/super-admin", auth=PUBLIC, response=SuperAdminExistsOut,
        summary="Whether the platform's super admin exists (seeded from SUPER_ADMIN_* when configured)")
def seed_super_admin():
    # Public, so it says no more than whether the account exists: never who it is.
    exists = service.super_admin_exists(current_app.config["SETTINGS"])
    return {"message": "Super admin is ready" if exists else "No super admin is configured", "exists": exists}


@bp.post("/auth/register", auth=PUBLIC, body=RegisterIn, status=201, response=RegisterOut,
         summary="Register a company admin (creates the company when company_name is given)")
@rate_limit("20/hour", scope="register")
def register(body: RegisterIn):
    user, company, pair = accounts.register(
        settings=current_app.config["SETTINGS"], email=body.email, password=body.password, username=body.username,
        first_name=body.first_name, last_name=body.last_name, company_id=body.company_id,
        company_name=body.company_name, actor=request_actor())
    return {"message": "Registration successful", "user": user_out(user), "company": company_brief(company),
            **pair}


@bp.post("/auth/login", auth=PUBLIC, body=LoginIn, response=LoginOut, summary="Log in with email and password")
@rate_limit("60/minute", scope="login_ip")
@rate_limit("10/minute", scope="login", key=_email_key)
def login(body: LoginIn):
    user, pair = service.login(body.email, body.password, actor=request_actor())
    return {"message": "Login successful", **pair, "tokens": pair, "user": user_out(user),
            "password_reset_required": user.must_reset_password}


@bp.post("/auth/refresh", auth=PUBLIC, body=RefreshIn, response=RefreshOut,
         summary="Exchange a refresh token (Bearer header or body) for a new pair; the old one stops working")
@rate_limit("30/minute", scope="refresh")
def refresh(body: RefreshIn):
    header = request.headers.get("Authorization", "")
    token = body.refresh_token or (header[7:].strip() if header[:7].lower() == "bearer " else None)
    if not token:
        raise Unauthorized("A refresh token is required", code="TOKEN_MISSING")
    user, pair = service.refresh(token, actor=request_actor())
    return {"message": "Token refreshed", **pair, "user": user_out(user)}


@bp.post("/auth/logout", auth=JWT, body=RefreshIn, response=MessageOut,
         summary="Revoke the session's access and refresh tokens")
def logout(body: RefreshIn):
    service.logout(access_payload=g.get("token_payload"), refresh_token=body.refresh_token,
                   actor=current_principal())
    return {"message": "Logged out"}


@bp.post("/send", auth=PUBLIC, body=EmailIn, response=MessageOut, summary="Send an email-verification mail")
@rate_limit("30/hour", scope="verify_send_ip")
@rate_limit("5/hour", scope="verify_send", key=_email_key)
def send_verification(body: EmailIn):
    accounts.request_verification(body.email)
    return {"message": "If the address belongs to an unverified account, a verification email is on its way"}


@bp.post("/verify", auth=PUBLIC, body=TokenIn, response=UserMessageOut,
         summary="Verify an email address with the mailed token")
@rate_limit("30/minute", scope="verify")
def verify(body: TokenIn):
    user = accounts.verify_email(body.token, actor=request_actor())
    return {"message": "Email verified", "user": user_out(user)}


@bp.post("/auth/forgot-password", auth=PUBLIC, body=EmailIn, response=MessageOut, summary="Mail a password-reset token")
@rate_limit("30/hour", scope="forgot_ip")
@rate_limit("5/hour", scope="forgot", key=_email_key)
def forgot_password(body: EmailIn):
    accounts.request_password_reset(body.email)
    return {"message": "If the address belongs to an account, a reset email is on its way"}


@bp.post("/auth/reset-password", auth=PUBLIC, body=ResetPasswordIn, response=MessageOut,
         summary="Set a new password with a mailed reset token")
@rate_limit("10/hour", scope="reset_password")
def reset_password(body: ResetPasswordIn):
    accounts.reset_password(body.token, body.password, actor=request_actor())
    return {"message": "Password updated; log in with the new password"}


@bp.get("/auth/user/me", auth=READ, response=MeOut, summary="The caller and its company")
def get_me():
    return me(current_principal())


@bp.post("/auth/user", auth=ADMIN_OR_WRITE_KEY, body=CreateUserIn, status=201, response=UserMessageOut,
         summary="Create a user in the caller's company (super admins may pass company_id)")
def create_user(body: CreateUserIn):
    principal = current_principal()
    company_id = acting_company_id(body.company_id)
    user = accounts.create_user(actor=principal, company_id=company_id, email=body.email, password=body.password,
                                username=body.username, first_name=body.first_name, last_name=body.last_name,
                                role=body.role)
    return {"message": "User created", "user": user_out(user)}


# --- API keys ------------------------------------------------------------------------------

@bp.post("/auth/api-keys", auth=JWT, body=ApiKeyIn, status=201, response=ApiKeyCreatedOut,
         summary="Create an API key (secret shown once)")
def create_api_key(body: ApiKeyIn):
    principal = current_principal()
    company_id = acting_company_id(body.company_id) if principal.is_super_admin else None
    row, secret = api_keys.issue_api_key(
        actor=principal, company_id=company_id, name=body.name, scopes=body.scopes, permissions=body.permissions,
        expires_in_days=body.expires_in_days, rate_limit_per_hour=body.rate_limit_per_hour,
        rate_limit_per_day=body.rate_limit_per_day)
    return {"message": "API key created; store the secret now, it is not shown again", "api_key": row.key,
            "api_secret": secret, "secret": secret, "details": api_keys.api_key_out(row)}


@bp.get("/auth/api-keys", auth=JWT, response=ApiKeyListOut, summary="The caller's active API keys")
def list_api_keys():
    rows = api_keys.list_api_keys(user_id=current_principal().user_id)
    return {"api_keys": [api_keys.api_key_out(r) for r in rows], "total": len(rows)}


@bp.delete("/auth/api-keys/<api_key_id>", auth=JWT, response=ApiKeyRevokedOut, summary="Revoke an API key")
def delete_api_key(api_key_id: str):
    row = api_keys.revoke_api_key(actor=current_principal(), api_key_id=api_key_id)
    return {"message": "API key revoked", "api_key_id": str(row.id)}


@bp.get("/auth/validate", auth=ANY_CREDENTIAL, response=CredentialsOut,
        summary="Validate the credentials sent (JWT or API key)")
def validate():
    return credentials_report(current_principal(), g.get("token_payload"))
