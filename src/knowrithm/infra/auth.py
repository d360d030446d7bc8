"""Who is calling and what they may do (CONTRACT §1.2).

Routes declare an `Access` rule; `require()` resolves the request's principal once
(Bearer JWT wins over the API-key pair), checks role or key scope, and enters the
principal's company scope. How credentials become a principal is the auth domain's job:
it registers a resolver with `set_resolver`.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Callable

from flask import g, request

from .errors import Forbidden, Unauthorized
from .tenancy import set_company_scope

ADMIN_ROLES = {"admin", "super_admin"}


@dataclass(frozen=True)
class Access:
    name: str
    key_scope: str | None = None       # scope an API key needs; None = method-based read/write
    roles: frozenset[str] | None = None  # JWT roles allowed; None = any user role
    jwt_only: bool = False
    allow_lead: bool = False
    public: bool = False
    key_scopes_all: tuple[str, ...] = ()  # extra scopes that must all be present


PUBLIC = Access("public", public=True)
READ = Access("read", key_scope="read")
WRITE = Access("write", key_scope="write")
READ_OR_WRITE = Access("read_or_write", key_scope="read|write")
METHOD = Access("method")  # GET -> read, other methods -> write
ADMIN = Access("admin", key_scope="admin", roles=frozenset(ADMIN_ROLES))
READ_ADMIN = Access("read_admin", key_scope="admin", roles=frozenset(ADMIN_ROLES), key_scopes_all=("read",))
SUPER_ADMIN = Access("super_admin", key_scope="admin", roles=frozenset({"super_admin"}))
JWT = Access("jwt", jwt_only=True)
JWT_ADMIN = Access("jwt_admin", jwt_only=True, roles=frozenset(ADMIN_ROLES))
JWT_SUPER_ADMIN = Access("jwt_super_admin", jwt_only=True, roles=frozenset({"super_admin"}))
READ_OR_LEAD = Access("read_or_lead", key_scope="read", allow_lead=True)
WRITE_OR_LEAD = Access("write_or_lead", key_scope="write", allow_lead=True)


@dataclass
class Principal:
    kind: str  # "user" | "api_key" | "lead"
    company_id: uuid.UUID | None
    user_id: uuid.UUID | None = None
    role: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    api_key_id: uuid.UUID | None = None
    lead_id: uuid.UUID | None = None
    impersonator_id: uuid.UUID | None = None
    token_jti: str | None = None
    token_exp: int | None = None

    @property
    def is_super_admin(self) -> bool:
        return self.role == "super_admin" and self.kind != "lead"

    @property
    def is_admin(self) -> bool:
        return self.role in ADMIN_ROLES and self.kind != "lead"

    def has_scope(self, scope: str, method: str = "GET") -> bool:
        if self.kind != "api_key":
            return True
        if "full_access" in self.scopes:
            return True
        if scope in self.scopes:
            return True
        # "update" also covers PUT/PATCH and "delete" covers DELETE (CONTRACT §1.2 rule 5).
        if scope == "write" and (
            (method in ("PUT", "PATCH") and "update" in self.scopes)
            or (method == "DELETE" and "delete" in self.scopes)
        ):
            return True
        return False


Resolver = Callable[[], "Principal | None"]
_resolver: Resolver | None = None


def set_resolver(resolver: Resolver) -> None:
    global _resolver
    _resolver = resolver


def current_principal(optional: bool = True) -> Principal | None:
    if "principal" not in g:
        g.principal = _resolver() if _resolver else None
    if g.principal is None and not optional:
        raise Unauthorized()
    return g.principal


def require(access: Access) -> Principal | None:
    if access.public:
        return None
    principal = current_principal(optional=False)
    if principal.kind == "lead":
        if not access.allow_lead:
            raise Forbidden("Lead tokens cannot access this resource")
    elif access.jwt_only and principal.kind != "user":
        raise Unauthorized("This endpoint requires a Bearer access token")
    elif principal.kind == "user":
        if access.roles is not None and principal.role not in access.roles:
            raise Forbidden("Your role does not allow this action")
    elif principal.kind == "api_key":
        if access.roles is not None and principal.role not in access.roles and access.key_scope != "admin":
            raise Forbidden("Your role does not allow this action")
        needed = access.key_scope
        if needed is None:
            needed = "read" if request.method in ("GET", "HEAD") else "write"
        if not any(principal.has_scope(s, request.method) for s in needed.split("|")):
            raise Forbidden(f"API key lacks the '{needed}' scope")
        for scope in access.key_scopes_all:
            if not principal.has_scope(scope, request.method):
                raise Forbidden(f"API key lacks the '{scope}' scope")
        if access.roles == frozenset({"super_admin"}) and principal.role != "super_admin":
            raise Forbidden("Super admin only")
    set_company_scope(principal.company_id)
    return principal


def acting_company_id(requested: str | uuid.UUID | None = None) -> uuid.UUID:
    """The company a call acts for: the caller's, or any company for a super admin who names one."""
    principal = current_principal(optional=False)
    if requested and principal.is_super_admin:
        try:
            company_id = uuid.UUID(str(requested))
        except ValueError:
            from .errors import ValidationFailed

            raise ValidationFailed("Invalid company_id", details={"company_id": ["must be a UUID"]})
        set_company_scope(company_id)
        return company_id
    if principal.company_id is None:
        raise Forbidden("No company context for this principal")
    return principal.company_id
