"""Profiles and user lookups. Users are not `TenantOwned` (a super admin has no company),
so the company check that tenancy does for other tables is done here, once."""
from __future__ import annotations

import uuid

from knowrithm.domains.audit import service as audit
from knowrithm.domains.auth.models import User
from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db
from knowrithm.infra.errors import NotFound

PROFILE_FIELDS = ("first_name", "last_name", "timezone", "language", "preferences")


def user_visible_to(actor: Principal, user_id) -> User:
    """The user if the actor may see it: same company, or any for a super admin. Else 404."""
    try:
        key = uuid.UUID(str(user_id))
    except ValueError:
        raise NotFound("User not found") from None
    user = db.session.get(User, key)
    if user is None or user.deleted_at is not None:
        raise NotFound("User not found")
    if not actor.is_super_admin and user.company_id != actor.company_id:
        raise NotFound("User not found")
    return user


def get_profile(*, user_id: uuid.UUID) -> User:
    user = db.session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise NotFound("User not found")
    return user


def update_profile(*, actor: Principal, changes: dict) -> User:
    user = get_profile(user_id=actor.user_id)
    changed = {}
    for field in PROFILE_FIELDS:
        if changes.get(field) is not None and getattr(user, field) != changes[field]:
            setattr(user, field, changes[field])
            changed[field] = changes[field] if field != "preferences" else "updated"
    if changed:
        audit.record("user.profile_updated", actor=actor, entity_type="user", entity_id=user.id,
                     description="Profile updated", details={"fields": sorted(changed)})
        db.session.commit()
    return user
