"""Retention per company: how many days each class of data is kept, enforced nightly by beat.

A company's policy lives in its `system_configs` row `retention_policy` (set through
`PUT /company/<id>/retention`); a class it does not set takes the RETENTION_*_DAYS default, and
`null` keeps forever. The audit log is never kept for less than the floor (RETENTION_AUDIT_LOG_FLOOR_DAYS,
raised at run time by a super admin), and erasure certificates are never removed by retention.
Each class is deleted in committed batches (RETENTION_BATCH_SIZE rows, at most
RETENTION_MAX_BATCHES per class and company), so a large backlog is worked off over several
nights without long locks; every run leaves an audit row per company with what it removed.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, text

from knowrithm.domains.admin.models import SystemConfig
from knowrithm.domains.audit import service as audit
from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db, utcnow
from knowrithm.infra.errors import ValidationFailed

from . import erasure
from .catalog import Catalog, delete_batched, quote, read
from .export import export_key

CLASSES = ("conversations", "leads", "request_logs", "analytics_events", "audit_log", "uploaded_files",
           "task_records")
POLICY_KEY = "retention_policy"
FLOOR_KEY = "retention.audit_log_floor_days"
# Aggregated analytics tables and the column that dates a row; any table named `analytics_*`
# with a `created_at` is covered too.
ANALYTICS_TABLES = {"api_usage_rollups": "period_start"}
# Request-log rollups that name a user, a lead or an address: kept as long as the request logs.
PERSONAL_ROLLUPS = ("session_rollups", "client_ip_rollups")


def defaults(settings) -> dict[str, int | None]:
    return {name: getattr(settings, f"RETENTION_{name.upper()}_DAYS") for name in CLASSES}


def _config(company_id, key: str) -> SystemConfig | None:
    cond = SystemConfig.company_id.is_(None) if company_id is None else SystemConfig.company_id == company_id
    return db.session.execute(select(SystemConfig).where(cond, SystemConfig.config_key == key)).scalar_one_or_none()


def audit_floor() -> int:
    row = _config(None, FLOOR_KEY)
    configured = current_app.config["SETTINGS"].RETENTION_AUDIT_LOG_FLOOR_DAYS
    return int(row.config_value) if row is not None and row.config_value is not None else configured


def policy(company_id) -> dict:
    """What the company set, the defaults, and the days in force (the floor applied)."""
    settings = current_app.config["SETTINGS"]
    row = _config(company_id, POLICY_KEY)
    own = dict(row.config_value or {}) if row is not None else {}
    base = defaults(settings)
    effective = {name: own[name] if name in own else base[name] for name in CLASSES}
    floor = audit_floor()
    if effective["audit_log"] is not None:
        effective["audit_log"] = max(effective["audit_log"], floor)
    return {"policy": own, "defaults": base, "effective": effective, "audit_log_floor_days": floor}


def set_policy(*, company_id, changes: dict, actor: Principal | None) -> dict:
    floor = audit_floor()
    if changes.get("audit_log") is not None and changes["audit_log"] < floor:
        raise ValidationFailed(f"The audit log must be kept at least {floor} days", code="RETENTION_BELOW_FLOOR",
                               details={"audit_log": [f"at least {floor} days (set by the platform)"]})
    row = _config(company_id, POLICY_KEY)
    if row is None:
        row = SystemConfig(company_id=company_id, config_key=POLICY_KEY, config_type="json", config_value={},
                           description="Data retention in days per class (null: keep forever)")
        db.session.add(row)
    row.config_value = {**(row.config_value or {}), **changes}
    audit.record("retention.policy_updated", actor=actor, company_id=company_id, entity_type="company",
                 entity_id=company_id, category="lifecycle", risk_level="medium", details={"changes": changes})
    db.session.commit()
    return policy(company_id)


def set_floor(*, days: int, actor: Principal | None) -> int:
    row = _config(None, FLOOR_KEY)
    if row is None:
        row = SystemConfig(company_id=None, config_key=FLOOR_KEY, config_type="integer",
                           description="Minimum days every company keeps its audit log")
        db.session.add(row)
    row.config_value = days
    audit.record("retention.floor_updated", actor=actor, entity_type="platform", category="lifecycle",
                 risk_level="high", details={"audit_log_floor_days": days})
    db.session.commit()
    return days


def last_runs(company_id, limit: int = 10) -> list[dict]:
    rows = db.session.execute(text("SELECT created_at, details FROM audit_logs WHERE company_id = :cid AND "
                                   "event_type = 'retention.run' ORDER BY created_at DESC LIMIT :n"),
                              {"cid": company_id, "n": limit}).all()
    return [{"ran_at": r.created_at.isoformat(), **(r.details or {})} for r in rows]


# --- enforcement ------------------------------------------------------------------------------

def enforce_all(*, now: datetime | None = None) -> dict:
    """The nightly run: every company's policy, then platform rows (no company) with the defaults."""
    now = now or utcnow()
    started = utcnow()
    totals: dict[str, int] = {}
    complete = True
    companies = db.session.execute(text("SELECT id FROM companies ORDER BY id")).scalars().all()
    for company_id in [*companies, None]:
        days = policy(company_id)["effective"] if company_id else _platform_days()
        removed, finished = enforce_company(company_id, days, now=now)
        complete = complete and finished
        for name, n in removed.items():
            totals[name] = totals.get(name, 0) + n
        if company_id is not None:
            audit.record("retention.run", actor=None, company_id=company_id, entity_type="company", entity_id=company_id,
                         category="lifecycle", details={"removed": removed, "days": days, "complete": finished})
            db.session.commit()
    summary = {"companies": len(companies), "removed": totals, "complete": complete,
               "seconds": round((utcnow() - started).total_seconds(), 3)}
    audit.record("retention.completed", actor=None, entity_type="platform", category="lifecycle", details=summary)
    db.session.commit()
    return summary


def _platform_days() -> dict:
    days = defaults(current_app.config["SETTINGS"])
    floor = audit_floor()
    if days["audit_log"] is not None:
        days["audit_log"] = max(days["audit_log"], floor)
    return days


def enforce_company(company_id, days: dict, *, now: datetime) -> tuple[dict[str, int], bool]:
    """Removes what `days` no longer keeps for one company (None: rows of no company)."""
    settings = current_app.config["SETTINGS"]
    limits = {"batch": settings.RETENTION_BATCH_SIZE, "max_batches": settings.RETENTION_MAX_BATCHES}
    cat = read()
    owner = "company_id IS NULL" if company_id is None else "company_id = :cid"
    params = {"cid": company_id}
    removed: dict[str, int] = {}
    complete = True

    def run(name: str, table: str, where: str, cutoff: datetime) -> None:
        nonlocal complete
        if not cat.has(table, "company_id"):
            return
        n, done = delete_batched(table, f"{owner} AND {where}", {**params, "cutoff": cutoff}, **limits)
        complete = complete and done
        if n:
            removed[name] = removed.get(name, 0) + n

    def cutoff(name: str) -> datetime | None:
        return now - timedelta(days=days[name]) if days.get(name) is not None else None

    if (c := cutoff("request_logs")) is not None:
        run("request_logs", "api_request_logs", "created_at < :cutoff", c)
        # Their per-person rollups (sessions, client addresses) expire with them.
        for table in PERSONAL_ROLLUPS:
            run("request_logs", table, "period_start < :cutoff", c)
    if (c := cutoff("task_records")) is not None:
        run("task_records", "task_records", "created_at < :cutoff AND finished_at IS NOT NULL", c)
    if (c := cutoff("audit_log")) is not None:
        run("audit_log", "audit_logs", "created_at < :cutoff AND event_type NOT LIKE 'erasure.%'", c)
    if (c := cutoff("analytics_events")) is not None:
        for table, column in _analytics_tables(cat).items():
            run("analytics_events", table, f"{quote(column)} < :cutoff", c)
    if company_id is None:
        return removed, complete
    if (c := cutoff("conversations")) is not None:
        run("conversations", "conversations", "coalesce(last_activity, updated_at, created_at) < :cutoff", c)
        run("messages", "messages", "created_at < :cutoff", c)
    if (c := cutoff("leads")) is not None:
        complete = _expire_leads(company_id, c, limits["batch"], removed) and complete
    if (c := cutoff("uploaded_files")) is not None:
        complete = _expire_files(company_id, c, limits, removed) and complete
    return removed, complete


def _analytics_tables(cat: Catalog) -> dict[str, str]:
    tables = {t: c for t, c in ANALYTICS_TABLES.items() if cat.has(t, c)}
    tables.update({t: "created_at" for t in cat.tables if t.startswith("analytics_") and cat.has(t, "created_at")})
    return tables


def _expire_leads(company_id, cutoff: datetime, batch: int, removed: dict) -> bool:
    """Leads idle since the cutoff are erased with their conversations (a certificate each)."""
    ids = db.session.execute(text("SELECT id FROM leads WHERE company_id = :cid AND "
                                  "coalesce(last_activity, updated_at, created_at) < :cutoff LIMIT :n"),
                             {"cid": company_id, "cutoff": cutoff, "n": batch}).scalars().all()
    for lead_id in ids:
        erasure.erase_lead(lead_id=lead_id, actor=None)
    if ids:
        removed["leads"] = len(ids)
    return len(ids) < batch


def _expire_files(company_id, cutoff: datetime, limits: dict, removed: dict) -> bool:
    """Original uploads past the cutoff are deleted; the document and its chunks stay searchable."""
    for _ in range(limits["max_batches"]):
        rows = db.session.execute(text(
            "WITH doomed AS (SELECT id, storage_path FROM documents WHERE company_id = :cid AND storage_path IS NOT "
            "NULL AND created_at < :cutoff LIMIT :n FOR UPDATE), "
            "cleared AS (UPDATE documents d SET storage_path = NULL FROM doomed WHERE d.id = doomed.id) "
            "SELECT storage_path FROM doomed"),
            {"cid": company_id, "cutoff": cutoff, "n": limits["batch"]}).scalars().all()
        db.session.commit()
        if rows:
            erasure.remove_files([p for p in rows if p])
            removed["uploaded_files"] = removed.get("uploaded_files", 0) + len(rows)
        if len(rows) < limits["batch"]:
            return True
    return False


def expire_exports(*, now: datetime | None = None) -> int:
    """Company export zips outlive their signed links by nothing: removed once the link expires."""
    ttl = current_app.config["SETTINGS"].EXPORT_LINK_TTL_SECONDS
    cutoff = (now or utcnow()) - timedelta(seconds=ttl)
    rows = db.session.execute(text("SELECT id, company_id FROM task_records WHERE name = "
                                   "'knowrithm.lifecycle.export_company' AND state = 'SUCCESS' AND finished_at < :c "
                                   "AND (CAST(result AS jsonb) ->> 'expired') IS NULL"),
                              {"c": cutoff}).all()
    for task_id, company_id in rows:
        erasure.remove_files([export_key(company_id, task_id)])
        db.session.execute(text("UPDATE task_records SET result = "
                                "CAST(CAST(result AS jsonb) || CAST(:mark AS jsonb) AS json) WHERE id = :id"),
                           {"id": task_id, "mark": '{"expired": true}'})
    db.session.commit()
    return len(rows)
