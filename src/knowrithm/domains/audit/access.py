"""Data-access audit: who read, exported, uploaded or deleted what, and every call made while
impersonating (with the impersonator). Routes opt in with `audit="<event>"`; infra.api calls
`record_access` after the view succeeded, so refused calls leave no access row (the request
log has them)."""
from __future__ import annotations

from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db

from .service import record


def record_access(event_type: str | None, principal: Principal, details: dict) -> None:
    # A visitor reading their own chat is not data access by staff.
    if principal.kind == "lead" and not principal.impersonator_id:
        return
    ids = [v for k, v in details.items() if k not in ("method", "path")]
    if event_type:
        record(event_type, actor=principal, entity_type=event_type.split(".", 1)[0],
               entity_id=ids[0] if ids else None, category="data_access", details=details,
               risk_level="medium")
    if principal.impersonator_id:
        record("impersonation.action", actor=principal, category="impersonation", risk_level="high",
               description=f"{details['method']} {details['path']} while impersonating",
               details={**details, "impersonator_id": str(principal.impersonator_id)})
    db.session.commit()
