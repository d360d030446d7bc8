"""Audit-log queries and system configuration.

Audit rows and configuration overrides carry a `company_id` without being `TenantOwned`
(platform events and platform-wide settings have none), so the company restriction is
written here: admins see their company's rows, super admins everything.
"""
from __future__ import annotations

import uuid

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from knowrithm.domains.audit import service as audit
from knowrithm.domains.audit.models import AuditLog
from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db
from knowrithm.infra.errors import Conflict

from .models import SystemConfig
from .schemas import AuditQuery, ConfigIn


# --- audit log ----------------------------------------------------------------------------

def query_audit_log(*, actor: Principal, query: AuditQuery) -> tuple[list[AuditLog], int, int, int]:
    stmt = select(AuditLog)
    if not actor.is_super_admin:
        stmt = stmt.where(AuditLog.company_id == actor.company_id)
    elif query.company_id:
        stmt = stmt.where(AuditLog.company_id == query.company_id)
    if query.entity_type:
        stmt = stmt.where(AuditLog.entity_type == query.entity_type)
    if query.event_type:
        stmt = stmt.where(AuditLog.event_type == query.event_type)
    if query.action:
        stmt = stmt.where(AuditLog.event_type.startswith(query.action, autoescape=True))
    if query.risk_level:
        stmt = stmt.where(AuditLog.risk_level == query.risk_level)
    if query.user_id:
        stmt = stmt.where(or_(AuditLog.user_id == query.user_id, AuditLog.impersonator_id == query.user_id))
    if query.start_date:
        stmt = stmt.where(AuditLog.created_at >= query.start_date)
    if query.end_date:
        stmt = stmt.where(AuditLog.created_at <= query.end_date)
    limit, offset = query.window()
    total = db.session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = list(db.session.execute(
        stmt.order_by(AuditLog.created_at.desc(), AuditLog.id).limit(limit).offset(offset)).scalars())
    # Reading the trail is itself audited (after the query, so it never lists itself).
    audit.record("admin.audit_log_viewed", actor=actor, company_id=query.company_id or actor.company_id,
                 entity_type="audit_log", description=f"Viewed {len(rows)} audit entries",
                 details={"filters": query.model_dump(mode="json", exclude_none=True,
                                                      include=set(AuditQuery.model_fields))})
    db.session.commit()
    return rows, total, limit, offset


# --- system configuration -------------------------------------------------------------------

def effective_config(*, actor: Principal, company_id: uuid.UUID | None) -> list[SystemConfig]:
    """Platform entries overlaid with the company's own overrides (one entry per key)."""
    scopes = [SystemConfig.company_id.is_(None)]
    if company_id is not None:
        scopes.append(SystemConfig.company_id == company_id)
    rows = db.session.execute(select(SystemConfig).where(or_(*scopes)).order_by(SystemConfig.config_key)).scalars()
    merged: dict[str, SystemConfig] = {}
    for row in rows:
        if row.config_key not in merged or row.company_id is not None:
            merged[row.config_key] = row
    entries = [merged[k] for k in sorted(merged)]
    if actor.is_super_admin and any(e.is_sensitive for e in entries):
        audit.record("admin.sensitive_config_viewed", actor=actor, company_id=company_id, entity_type="config",
                     risk_level="medium", description="Viewed sensitive configuration values",
                     details={"keys": [e.config_key for e in entries if e.is_sensitive]})
        db.session.commit()
    return entries


def upsert_config(*, actor: Principal, body: ConfigIn, company_id: uuid.UUID | None) -> tuple[SystemConfig, bool]:
    """Creates or replaces one entry in the given scope (None = platform). Returns (row, created)."""
    scope = SystemConfig.company_id.is_(None) if company_id is None else SystemConfig.company_id == company_id
    row = db.session.execute(select(SystemConfig).where(SystemConfig.config_key == body.config_key, scope)) \
        .scalar_one_or_none()
    created = row is None
    if created:
        row = SystemConfig(config_key=body.config_key, company_id=company_id)
        db.session.add(row)
    previous_sensitive = bool(row.is_sensitive)
    row.config_value = body.config_value
    row.config_type = body.config_type
    if body.description is not None:
        row.description = body.description
    if body.is_sensitive is not None:
        row.is_sensitive = body.is_sensitive
    row.updated_by = actor.user_id
    sensitive = previous_sensitive or bool(row.is_sensitive)
    audit.record("config.created" if created else "config.updated", actor=actor, company_id=company_id,
                 entity_type="config", entity_id=body.config_key, risk_level="high" if sensitive else "medium",
                 description=f"Configuration {body.config_key!r} {'created' if created else 'updated'}",
                 details={"config_key": body.config_key, "scope": "company" if company_id else "platform",
                          "config_type": row.config_type, "is_sensitive": bool(row.is_sensitive),
                          # never copy a secret into the audit trail
                          "value": "(hidden)" if sensitive else body.config_value})
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent first write of the same key won the race
        db.session.rollback()
        raise Conflict("Configuration key was written concurrently; retry", details={"config_key": ["conflict"]})
    return row, created
