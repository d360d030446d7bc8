"""Profile and user lookup. Status/role/impersonation live in `admin`."""
from __future__ import annotations

from knowrithm.domains.auth.schemas import UserMessageOut, user_out
from knowrithm.infra.api import ApiBlueprint
from knowrithm.infra.auth import ADMIN_ROLES, READ, WRITE, Access, current_principal
from knowrithm.infra.db import utcnow

from . import service
from .schemas import ProfileIn, ProfileOut, UserRetrievedOut

bp = ApiBlueprint("users", __name__, tag="users")

# Admins by JWT; API keys with `read` that act for an admin.
ADMIN_OR_READ_KEY = Access("admin_or_read_key", key_scope="read", roles=frozenset(ADMIN_ROLES))


@bp.get("/user/profile", auth=READ, response=ProfileOut, summary="The caller's profile")
def get_profile():
    return {"user": user_out(service.get_profile(user_id=current_principal().user_id))}


@bp.put("/user/profile", auth=WRITE, body=ProfileIn, response=UserMessageOut, summary="Update the caller's profile")
def update_profile(body: ProfileIn):
    user = service.update_profile(actor=current_principal(), changes=body.model_dump(include=set(service.PROFILE_FIELDS)))
    return {"message": "Profile updated", "user": user_out(user)}


@bp.get("/user/<user_id>", auth=ADMIN_OR_READ_KEY, response=UserRetrievedOut,
        summary="One user of the caller's company")
def get_user(user_id: str):
    user = service.user_visible_to(current_principal(), user_id)
    return {"success": True, "message": "User retrieved", "data": user_out(user), "user": user_out(user),
            "timestamp": utcnow().isoformat()}
