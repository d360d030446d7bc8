"""Administering accounts: the filtered user list, status and role changes, forced password
resets and impersonation. Users are not `TenantOwned` (a super admin has no company), so
the company restriction is written here: admins see their own company, super admins any.
Every change and every look at another person's data leaves an audit row.
"""
from __future__ import annotations

import uuid

from sqlalchemy import func, or_, select

from knowrithm.domains.audit import service as audit
from knowrithm.domains.auth import tokens
from knowrithm.domains.auth.email import send_password_reset
from knowrithm.domains.auth.models import User
from knowrithm.domains.users.service import user_visible_to
from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db, utcnow
from knowrithm.infra.errors import Forbidden, NotFound

from .schemas import UserListQuery


def _company_filter(actor: Principal, company_id: uuid.UUID | None):
    if actor.is_super_admin:
        return User.company_id == company_id if company_id else None
    return User.company_id == actor.company_id


def list_users(*, actor: Principal, query: UserListQuery, company_id: uuid.UUID | None = None) -> tuple[list, int]:
    stmt = select(User)
    scope = _company_filter(actor, company_id)
    if scope is not None:
        stmt = stmt.where(scope)
    if query.include_deleted or query.only_deleted:
        stmt = stmt.execution_options(include_deleted=True)
    if query.only_deleted:
        stmt = stmt.where(User.deleted_at.is_not(None))
    now = utcnow()
    conditions = {
        "status": lambda v: User.status == v,
        "role": lambda v: User.role == v,
        "email_verified": lambda v: User.email_verified.is_(v),
        "two_factor_enabled": lambda v: User.two_factor_enabled.is_(v),
        "never_logged_in": lambda v: User.last_login.is_(None) if v else User.last_login.is_not(None),
        "locked": lambda v: (User.locked_until > now) if v else or_(User.locked_until.is_(None), User.locked_until <= now),
        "created_after": lambda v: User.created_at >= v,
        "created_before": lambda v: User.created_at <= v,
        "last_login_after": lambda v: User.last_login >= v,
        "last_login_before": lambda v: User.last_login <= v,
        "high_login_attempts": lambda v: User.login_attempts >= v,
        "timezone": lambda v: User.timezone == v,
        "language": lambda v: User.language == v,
    }
    for name, condition in conditions.items():
        value = getattr(query, name)
        if value is not None:
            stmt = stmt.where(condition(value))
    if query.search and query.search.strip():
        like = f"%{query.search.strip()}%"
        stmt = stmt.where(or_(User.email.ilike(like), User.username.ilike(like), User.first_name.ilike(like),
                              User.last_name.ilike(like)))
    total = db.session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    column = getattr(User, query.sort_by)
    order = column.asc() if query.sort_order == "asc" else column.desc()
    rows = db.session.execute(stmt.order_by(order.nulls_last(), User.id)
                              .limit(query.per_page).offset((query.page - 1) * query.per_page)).scalars()
    rows = list(rows)
    audit.record("admin.users_listed", actor=actor, company_id=company_id or actor.company_id, entity_type="user",
                 description=f"Listed {len(rows)} of {total} users", details={"filters": query.applied()})
    db.session.commit()
    return rows, total


def view_user(*, actor: Principal, user_id) -> User:
    user = user_visible_to(actor, user_id)
    audit.record("admin.user_viewed", actor=actor, company_id=user.company_id, entity_type="user",
                 entity_id=user.id, description=f"Viewed user {user.email}")
    db.session.commit()
    return user


def _target(actor: Principal, user_id, action: str) -> User:
    user = user_visible_to(actor, user_id)
    if user.id == actor.user_id or (actor.impersonator_id and user.id == actor.impersonator_id):
        raise Forbidden(f"You cannot {action} your own account")
    return user


def set_status(*, actor: Principal, user_id, status: str, reason: str | None) -> User:
    user = _target(actor, user_id, "change the status of")
    if user.role == "super_admin" and not actor.is_super_admin:
        raise NotFound("User not found")
    previous = user.status
    user.status = status
    if status == "active":
        user.locked_until, user.login_attempts = None, 0  # reactivating also lifts a lockout
    audit.record("admin.user_status_changed", actor=actor, company_id=user.company_id, entity_type="user",
                 entity_id=user.id, risk_level="high" if status in ("suspended", "inactive") else "medium",
                 description=f"Status of {user.email} changed from {previous} to {status}",
                 details={"from": previous, "to": status, "reason": reason})
    db.session.commit()
    return user


def set_role(*, actor: Principal, user_id, role: str) -> User:
    user = _target(actor, user_id, "change the role of")
    previous = user.role
    user.role = role
    audit.record("admin.user_role_changed", actor=actor, company_id=user.company_id, entity_type="user",
                 entity_id=user.id, risk_level="critical" if role == "super_admin" else "high",
                 description=f"Role of {user.email} changed from {previous} to {role}",
                 details={"from": previous, "to": role})
    db.session.commit()
    return user


def force_password_reset(*, actor: Principal, user_id) -> tuple[User, bool]:
    """Flags the account and mails a one-time reset link; returns (user, whether a mail was queued)."""
    user = _target(actor, user_id, "force a password reset on")
    user.must_reset_password = True
    audit.record("admin.password_reset_forced", actor=actor, company_id=user.company_id, entity_type="user",
                 entity_id=user.id, risk_level="high", description=f"Password reset forced for {user.email}")
    db.session.commit()
    return user, send_password_reset(user)


def impersonate(*, actor: Principal, user_id) -> tuple[User, dict]:
    """Tokens that act as `user_id` and name the super admin behind them (audited with both)."""
    user = _target(actor, user_id, "impersonate")
    if user.role == "super_admin":
        raise Forbidden("Super admin accounts cannot be impersonated")
    if user.status in ("suspended", "inactive"):
        raise Forbidden(f"Cannot impersonate a {user.status} account")
    if actor.user_id is None:
        raise NotFound("User not found")
    pair = tokens.issue_pair(user, impersonator_id=actor.user_id)
    audit.record("admin.impersonation_started", actor=actor, company_id=user.company_id, entity_type="user",
                 entity_id=user.id, risk_level="critical",
                 description=f"Super admin started impersonating {user.email}",
                 details={"impersonator_id": str(actor.user_id), "impersonated_user_id": str(user.id)})
    db.session.commit()
    return user, pair
