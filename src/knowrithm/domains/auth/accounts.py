"""Accounts: public sign-up, admin-created users, email verification, password reset."""
from __future__ import annotations

import re
import secrets
import uuid

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError

from knowrithm.domains.audit import service as audit
from knowrithm.domains.companies.models import Company
from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db, utcnow
from knowrithm.infra.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed

from . import email as mail, tokens
from .models import User
from .passwords import hash_password, password_problems
from .service import find_by_email


def _taken(email: str, username: str) -> dict:
    rows = db.session.execute(
        select(User.email, User.username)
        .where((func.lower(User.email) == email.lower()) | (func.lower(User.username) == username.lower()))
        .execution_options(include_deleted=True, all_companies=True)
    ).all()
    details: dict[str, list[str]] = {}
    for row_email, row_username in rows:
        if row_email.lower() == email.lower():
            details["email"] = ["is already registered"]
        if row_username.lower() == username.lower():
            details["username"] = ["is already taken"]
    return details


def _username_from(email: str) -> str:
    """The documented sign-up form has no username; derive a free one from the email."""
    base = re.sub(r"[^a-z0-9_.\-]", "", email.split("@")[0].lower())[:40] or "user"
    base = base if len(base) >= 3 else f"{base}_user"
    candidate = base
    while db.session.execute(select(exists().where(func.lower(User.username) == candidate))
                             .execution_options(include_deleted=True)).scalar():
        candidate = f"{base}_{secrets.token_hex(3)}"
    return candidate


def _check_password(password: str, email: str, username: str | None) -> None:
    problems = password_problems(password, email=email, username=username)
    if problems:
        raise ValidationFailed("Password is too weak", details={"password": problems})


def _new_user(*, company_id: uuid.UUID, email: str, username: str | None, password: str,
              first_name: str | None, last_name: str | None, role: str) -> User:
    username = username or _username_from(email)
    _check_password(password, email, username)
    taken = _taken(email, username)
    if taken:
        raise Conflict("An account with these details already exists", code="USER_EXISTS", details=taken)
    user = User(company_id=company_id, email=email, username=username, password_hash=hash_password(password),
                first_name=first_name, last_name=last_name, role=role, status="active", email_verified=False,
                password_changed_at=utcnow())
    db.session.add(user)
    return user


def _commit_new_user() -> None:
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent sign-up won the race for the email or username
        db.session.rollback()
        raise Conflict("An account with these details already exists", code="USER_EXISTS") from None


def register(*, settings, email: str, password: str, username: str | None = None, first_name: str | None = None,
             last_name: str | None = None, company_id: uuid.UUID | None = None,
             company_name: str | None = None, actor: Principal) -> tuple[User, Company, dict]:
    """Self-service sign-up of a company admin (either client form of the body).

    With `company_name` a new company is created. With `company_id` the account becomes
    the first admin of a company created through the public `POST /company`; a company
    that already has users only gains users through its admins (`POST /auth/user`), or
    anyone who learned a company id could make themselves its admin.
    """
    if not settings.ALLOW_PUBLIC_REGISTRATION:
        raise Forbidden("Public registration is disabled on this server; ask an administrator for an account",
                        code="REGISTRATION_DISABLED")
    if company_id is None and not company_name:
        raise ValidationFailed("A company is required", details={
            "company_name": ["required when company_id is not given"]})
    if company_id is not None:
        company = db.session.execute(select(Company).where(Company.id == company_id)).scalar_one_or_none()
        if company is None:
            raise NotFound("Company not found")
        has_users = db.session.execute(select(exists().where(User.company_id == company_id))
                                       .execution_options(include_deleted=True)).scalar()
        if has_users:
            raise Forbidden("This company already has accounts; ask one of its admins to add you",
                            code="COMPANY_HAS_USERS")
    else:
        company = Company(name=company_name.strip(), email=email)
    user = _new_user(company_id=None, email=email, username=username, password=password,
                     first_name=first_name, last_name=last_name, role="admin")
    if company.id is None:
        db.session.add(company)
        db.session.flush()
    user.company_id = company.id
    db.session.flush()
    audit.record("auth.registered", actor=actor, company_id=company.id, user_id=user.id, entity_type="user",
                 entity_id=user.id, description="Company admin registered", risk_level="medium",
                 details={"company_created": company_id is None})
    _commit_new_user()
    pair = tokens.issue_pair(user)
    mail.send_verification_email(user)
    return user, company, pair


def create_user(*, actor: Principal, company_id: uuid.UUID, email: str, password: str, username: str | None = None,
                first_name: str | None = None, last_name: str | None = None, role: str = "user") -> User:
    """An admin adds a user to a company ."""
    if role == "admin" and not actor.is_admin:
        raise Forbidden("Only admins can create admin accounts")
    company = db.session.execute(select(Company).where(Company.id == company_id)).scalar_one_or_none()
    if company is None:
        raise NotFound("Company not found")
    user = _new_user(company_id=company_id, email=email, username=username, password=password,
                     first_name=first_name, last_name=last_name, role=role)
    db.session.flush()
    audit.record("user.created", actor=actor, company_id=company_id, entity_type="user", entity_id=user.id,
                 description=f"User {email} created with role {role}", risk_level="medium",
                 details={"role": role})
    _commit_new_user()
    mail.send_verification_email(user)
    return user


def request_verification(email: str) -> None:
    """Queues a verification mail. Says nothing about whether the address exists."""
    user = find_by_email(email)
    if user is not None and not user.email_verified and user.status not in ("suspended", "inactive"):
        mail.send_verification_email(user)


def verify_email(token: str, *, actor: Principal) -> User:
    user, _ = _user_for_token(token, mail.VERIFY_PURPOSE, "verification")
    user.email_verified = True
    if user.status == "pending_verification":
        user.status = "active"
    audit.record("auth.email_verified", actor=actor, company_id=user.company_id, user_id=user.id, entity_type="user",
                 entity_id=user.id, description="Email address verified")
    db.session.commit()
    return user


def reset_password(token: str, new_password: str, *, actor: Principal) -> User:
    user, payload = _user_for_token(token, mail.RESET_PURPOSE, "reset", consume=False)
    if payload.get("pwd") != mail.password_fingerprint(user.password_hash):
        raise ValidationFailed("This reset link was already used or the password has changed",
                               details={"token": ["no longer valid"]})
    _check_password(new_password, user.email, user.username)
    tokens.consume_purpose(token, mail.RESET_PURPOSE)
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()  # invalidates tokens issued before (principal.check_may_act)
    user.must_reset_password = False
    user.login_attempts = 0
    user.locked_until = None
    audit.record("auth.password_reset", actor=actor, company_id=user.company_id, user_id=user.id, entity_type="user",
                 entity_id=user.id, description="Password reset with a mailed token", risk_level="high")
    db.session.commit()
    return user


def _user_for_token(token: str, purpose: str, what: str, consume: bool = True) -> tuple[User, dict]:
    try:
        payload = tokens.consume_purpose(token, purpose) if consume else tokens.decode(token, expected=purpose)
        user = db.session.get(User, uuid.UUID(payload["sub"]))
    except (Unauthorized, ValueError):
        user, payload = None, None
    if user is None or user.deleted_at is not None or user.email.lower() != str(payload.get("email", "")).lower():
        raise ValidationFailed(f"Invalid or expired {what} token", code="INVALID_TOKEN",
                               details={"token": ["invalid, expired or already used"]})
    return user, payload


def get_user(user_id: uuid.UUID) -> User:
    user = db.session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise Unauthorized("User no longer exists", code="TOKEN_INVALID")
    return user


def request_password_reset(email: str) -> None:
    """Queues a reset mail. Says nothing about whether the address exists."""
    user = find_by_email(email)
    if user is not None and user.status not in ("suspended", "inactive"):
        mail.send_password_reset(user)
