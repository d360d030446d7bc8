"""Sessions: super admin seeding, login with lockout, refresh rotation, logout."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from knowrithm.config import Settings
from knowrithm.domains.audit import service as audit
from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db, utcnow
from knowrithm.infra.errors import Locked, Unauthorized

from . import key_cache, tokens
from .models import User
from .passwords import hash_password, verify_password
from .principal import active_user

MAX_LOGIN_ATTEMPTS = 5
LOCKOUT = timedelta(minutes=15)
INACTIVE = ("suspended", "inactive")


def ensure_super_admin(settings: Settings) -> User:
    """Idempotent: creates the super admin from SUPER_ADMIN_* once; never overwrites a changed password."""
    user = db.session.execute(
        select(User).where(func.lower(User.email) == settings.SUPER_ADMIN_EMAIL.lower())
        .execution_options(include_deleted=True, all_companies=True)
    ).scalar_one_or_none()
    if user is None:
        if not settings.SUPER_ADMIN_PASSWORD:
            raise RuntimeError("SUPER_ADMIN_PASSWORD must be set to seed the super admin")
        user = User(email=settings.SUPER_ADMIN_EMAIL.lower(), username=settings.SUPER_ADMIN_USERNAME,
                    first_name=settings.SUPER_ADMIN_FIRST_NAME, last_name=settings.SUPER_ADMIN_LAST_NAME,
                    password_hash=hash_password(settings.SUPER_ADMIN_PASSWORD), role="super_admin",
                    status="active", email_verified=True)
        db.session.add(user)
        db.session.commit()
    return user


def super_admin_exists(settings: Settings) -> bool:
    """Seeds the super admin when SUPER_ADMIN_PASSWORD is set; says whether one exists."""
    if settings.SUPER_ADMIN_PASSWORD:
        ensure_super_admin(settings)
        return True
    return db.session.execute(select(User.id).where(User.role == "super_admin").limit(1)
                              .execution_options(all_companies=True)).first() is not None


def find_by_email(email: str) -> User | None:
    return db.session.execute(
        select(User).where(func.lower(User.email) == (email or "").strip().lower())
        .execution_options(all_companies=True)
    ).scalar_one_or_none()


def authenticate(email: str, password: str, *, actor: Principal) -> User:
    user = find_by_email(email)
    if user is None:
        audit.record("auth.login_failed", actor=actor, description="Login failed: unknown email", risk_level="medium",
                     details={"email": (email or "")[:255]})
        db.session.commit()
        raise Unauthorized("Invalid email or password", code="INVALID_CREDENTIALS")
    now = utcnow()
    if user.locked_until and user.locked_until > now:
        raise Locked("Account is locked after repeated failed logins; try again later", code="ACCOUNT_LOCKED")
    if not verify_password(user.password_hash, password or ""):
        user.login_attempts += 1
        locked = user.login_attempts >= MAX_LOGIN_ATTEMPTS
        if locked:
            user.locked_until = now + LOCKOUT
        audit.record("auth.account_locked" if locked else "auth.login_failed", actor=actor,
                     company_id=user.company_id, user_id=user.id, entity_type="user", entity_id=user.id,
                     risk_level="high" if locked else "medium",
                     description="Account locked after repeated failed logins" if locked else "Wrong password",
                     details={"login_attempts": user.login_attempts})
        db.session.commit()
        raise Unauthorized("Invalid email or password", code="INVALID_CREDENTIALS")
    if user.status in INACTIVE:
        raise Unauthorized(f"Account is {user.status}", code="ACCOUNT_INACTIVE")
    if user.role != "super_admin" and key_cache.company_is_suspended(user.company_id):
        raise Unauthorized("Your company is suspended", code="COMPANY_SUSPENDED")
    user.login_attempts = 0
    user.locked_until = None
    user.last_login = now
    audit.record("auth.login", actor=actor, company_id=user.company_id, user_id=user.id, entity_type="user",
                 entity_id=user.id, description="Login succeeded")
    db.session.commit()
    return user


def login(email: str, password: str, *, actor: Principal) -> tuple[User, dict]:
    user = authenticate(email, password, actor=actor)
    return user, tokens.issue_pair(user)


def refresh(token: str, *, actor: Principal) -> tuple[User, dict]:
    payload = tokens.decode(token, expected="refresh")
    user = active_user(payload)
    tokens.revoke(payload)  # refresh tokens rotate: each one works once
    pair = tokens.issue_pair(user, session_id=payload.get("sid"),
                             impersonator_id=payload.get("impersonator_id"))
    audit.record("auth.token_refreshed", actor=actor, company_id=user.company_id, user_id=user.id, entity_type="user",
                 entity_id=user.id, description="Access token refreshed")
    db.session.commit()
    return user, pair


def logout(*, access_payload: dict | None, refresh_token: str | None, actor: Principal) -> None:
    """Revokes the caller's session: the access token and every refresh token of its login."""
    if access_payload:
        tokens.revoke(access_payload)
        tokens.revoke_session(access_payload)
    if refresh_token:
        try:
            tokens.revoke_session(tokens.decode(refresh_token, expected="refresh"))
        except Unauthorized:
            pass  # already invalid: nothing left to revoke
    audit.record("auth.logout", actor=actor, entity_type="user", entity_id=actor.user_id,
                 description="Logged out")
    db.session.commit()
