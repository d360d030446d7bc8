"""Administration (with the paths the CLI probes as aliases, docs/api-compatibility.md): users, metrics, audit log,
configuration, forced resets, impersonation, status and role changes. All synchronous:
impersonation tokens must never sit in a public task result, and the rest is one row."""
from __future__ import annotations

from knowrithm.domains.auth.schemas import user_out
from knowrithm.domains.companies import service as companies
from knowrithm.infra.api import ApiBlueprint
from knowrithm.infra.auth import ADMIN, SUPER_ADMIN, current_principal
from knowrithm.infra.db import sid, utcnow
from knowrithm.infra.errors import Forbidden
from knowrithm.infra.pagination import page_meta

from . import metrics, service, users
from .schemas import (AuditLogOut, AuditQuery, ConfigIn, ConfigListOut, ConfigSavedOut, ImpersonationOut, MetricsOut,
                      MetricsQuery, PasswordResetForcedOut, RoleIn, StatusIn, UserChangedOut, UserListOut,
                      UserListQuery, UserViewOut, audit_out, config_out)

bp = ApiBlueprint("admin", __name__, tag="admin")


def _user_list(query: UserListQuery, company_id=None) -> dict:
    rows, total = users.list_users(actor=current_principal(), query=query, company_id=company_id)
    items = [user_out(u) | {"deleted_at": u.deleted_at.isoformat() if u.deleted_at else None} for u in rows]
    return {"success": True, "users": items, "data": items,
            "pagination": page_meta(query.page, query.per_page, total), "filters_applied": query.applied()}


@bp.get(["/admin/user", "/admin/users"], auth=ADMIN, query=UserListQuery, response=UserListOut,
        summary="Users of the caller's company, filtered and sorted")
def list_users(query: UserListQuery):
    principal = current_principal()
    company_id = query.company_id if principal.is_super_admin else None
    return _user_list(query, company_id)


@bp.get("/super-admin/company/<company_id>/user", auth=SUPER_ADMIN, query=UserListQuery, response=UserListOut,
        summary="Users of one company (super admin)")
def list_company_users(company_id: str, query: UserListQuery):
    company = companies.visible(current_principal(), company_id, include_deleted=True)
    return _user_list(query, company.id)


@bp.get("/admin/user/<user_id>", auth=ADMIN, response=UserViewOut, summary="One user (admin view, audited)")
def get_user(user_id: str):
    out = user_out(users.view_user(actor=current_principal(), user_id=user_id))
    return {"success": True, "message": "User retrieved", "data": out, "user": out}


@bp.get(["/admin/system-metric", "/admin/metrics"], auth=ADMIN, query=MetricsQuery, response=MetricsOut,
        summary="Activity of the last 24 hours")
def get_system_metrics(query: MetricsQuery):
    principal = current_principal()
    if principal.is_super_admin:
        company_id = query.company_id  # None: the whole platform
    else:
        company_id = principal.company_id
    return metrics.collect(company_id)


@bp.get("/super-admin/company/<company_id>/system-metric", auth=SUPER_ADMIN, response=MetricsOut,
        summary="Activity of one company over the last 24 hours (super admin)")
def get_company_system_metrics(company_id: str):
    return metrics.collect_for(actor=current_principal(), company_id=company_id)


@bp.get(["/audit-log", "/admin/audit-log"], auth=ADMIN, query=AuditQuery, response=AuditLogOut,
        summary="Query the audit log")
def get_audit_logs(query: AuditQuery):
    rows, total, limit, offset = service.query_audit_log(actor=current_principal(), query=query)
    items = [audit_out(r) for r in rows]
    page = offset // limit + 1
    return {"success": True, "logs": items, "data": items, "audit_logs": items, "total": total, "limit": limit,
            "offset": offset, "page": page, "per_page": limit, "pagination": page_meta(page, limit, total)}


@bp.get("/config", auth=ADMIN, query=MetricsQuery, response=ConfigListOut,
        summary="Effective configuration (secrets hidden from non-super-admins)")
def get_system_configuration(query: MetricsQuery):
    principal = current_principal()
    company_id = query.company_id if principal.is_super_admin else principal.company_id
    entries = [config_out(e, reveal=principal.is_super_admin)
               for e in service.effective_config(actor=principal, company_id=company_id)]
    return {"success": True, "config": {e["config_key"]: e["config_value"] for e in entries}, "configs": entries,
            "data": entries}


@bp.patch("/config", auth=ADMIN, body=ConfigIn, response=ConfigSavedOut,
          summary="Create or update a configuration entry")
def upsert_system_configuration(body: ConfigIn):
    principal = current_principal()
    if principal.is_super_admin:
        company_id = body.company_id  # None: platform-wide
    else:
        # A company admin writes their company's override, never the platform's value.
        if body.company_id and body.company_id != principal.company_id:
            raise Forbidden("You can only configure your own company")
        company_id = principal.company_id
    row, created = service.upsert_config(actor=principal, body=body, company_id=company_id)
    out = config_out(row, reveal=principal.is_super_admin)
    return {"success": True, "message": f"Configuration {'created' if created else 'updated'}", "config": out,
            "data": out}


@bp.post("/user/<user_id>/force-password-reset", auth=ADMIN, response=PasswordResetForcedOut,
         summary="Force a password reset and mail the user")
def force_password_reset(user_id: str):
    user, mailed = users.force_password_reset(actor=current_principal(), user_id=user_id)
    message = "Password reset required; a reset link was mailed" if mailed else \
        "Password reset required; no mail transport is configured, so no mail was sent"
    return {"success": True, "message": message, "user_id": str(user.id), "email_sent": mailed,
            "must_reset_password": True}


@bp.post("/user/<user_id>/impersonate", auth=SUPER_ADMIN, response=ImpersonationOut,
         summary="Tokens acting as a user (super admin)")
def impersonate_user(user_id: str):
    principal = current_principal()
    user, pair = users.impersonate(actor=principal, user_id=user_id)
    return {"success": True, "message": f"Impersonating {user.email}", **pair, "token": pair["access_token"],
            "user": user_out(user), "impersonated_by": sid(principal.user_id),
            "impersonator_id": sid(principal.user_id), "issued_at": utcnow().isoformat()}


@bp.patch("/user/<user_id>/status", auth=ADMIN, body=StatusIn, response=UserChangedOut,
          summary="Change a user's status")
def update_user_status(user_id: str, body: StatusIn):
    user = users.set_status(actor=current_principal(), user_id=user_id, status=body.status, reason=body.reason)
    return {"success": True, "message": f"User status set to {user.status}", "user": user_out(user)}


@bp.patch("/user/<user_id>/role", auth=SUPER_ADMIN, body=RoleIn, response=UserChangedOut,
          summary="Change a user's role (super admin)")
def update_user_role(user_id: str, body: RoleIn):
    user = users.set_role(actor=current_principal(), user_id=user_id, role=body.role)
    return {"success": True, "message": f"User role set to {user.role}", "user": user_out(user)}
