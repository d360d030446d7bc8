"""Who is calling and what they may do (docs/api-compatibility.md, "Authentication").

Routes declare an `Access` rule; `require()` resolves the request's principal once
(Bearer JWT wins over the API-key pair), checks role or key scope, and enters the
principal's company scope. How credentials become a principal is the auth domain's job:
it registers a resolver with `set_resolver`.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Callable

from flask import g, has_request_context, request

from .errors import ApiError, Forbidden, Unauthorized, ValidationFailed
from .http import request_origin
from .tenancy import set_company_scope

ADMIN_ROLES = {"admin", "super_admin"}

# The scopes a key may carry, by its owner's role. Checked when a key is created and again on
# every use, so a demoted owner's keys lose their extra power on the next request.
USER_SCOPES = frozenset({"read", "write", "update", "delete"})
SCOPES_BY_ROLE = {
    "user": USER_SCOPES,
    "admin": USER_SCOPES | {"admin", "full_access"},
    "super_admin": USER_SCOPES | {"admin", "full_access"},
}


def scopes_for_role(role: str | None) -> frozenset[str]:
    return SCOPES_BY_ROLE.get(role or "", frozenset())


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
    session_id: str | None = None  # a lead's visitor session (the `sid` of its token)
    origin: str | None = None  # the browser origin a lead's request came from (widget allow-lists)
    token_jti: str | None = None
    token_exp: int | None = None
    # Where the request came from, stamped once at the edge (`current_principal`), so audit rows
    # written by services and tasks carry it without reading the request.
    ip_address: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

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
        # "update" also covers PUT/PATCH and "delete" covers DELETE.
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
        principal = _resolver() if _resolver else None
        g.principal = replace(principal, **request_origin()) if principal is not None else None
    if g.principal is None and not optional:
        raise Unauthorized()
    return g.principal


def request_actor() -> Principal:
    """The caller as a service receives it: the request's principal, or for a public endpoint
    (login, registration, a mailed token) an anonymous one that still carries the origin."""
    # Never resolves credentials itself: a public route's Authorization header may hold
    # something else (a refresh token).
    return g.get("principal") or Principal(kind="anonymous", company_id=None, **request_origin())


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
        # A key acts for its owner: it never reaches what the owner's role may not, whatever
        # scopes it carries (the scopes themselves are bounded by the role in `scopes_for_role`).
        if access.roles is not None and principal.role not in access.roles:
            raise Forbidden("Your role does not allow this action")
        needed = access.key_scope
        if needed is None:
            needed = "read" if request.method in ("GET", "HEAD") else "write"
        if not any(principal.has_scope(s, request.method) for s in needed.split("|")):
            raise Forbidden(f"API key lacks the '{needed}' scope")
        for scope in access.key_scopes_all:
            if not principal.has_scope(scope, request.method):
                raise Forbidden(f"API key lacks the '{scope}' scope")
    set_company_scope(principal.company_id)
    return principal


def attribute_request(company_id: uuid.UUID | None) -> None:
    """On a public route, once the route has found whose resource the request is for (the agent
    the widget names, a verified visitor token): the company an anonymous request is counted for
    in the request log. Only ever a company the server looked up, never one the caller names."""
    if company_id is not None and has_request_context():
        g.public_company_id = company_id


def attributed_company() -> uuid.UUID | None:
    return g.get("public_company_id") if has_request_context() else None


def reads_company(company_id: uuid.UUID | None) -> bool:
    """On a public route: do the request's credentials (if any) grant read access to this
    company's data? Leads never do; bad credentials count as none (the route stays public)."""
    try:
        principal = current_principal()
    except ApiError:
        return False
    if principal is None or principal.kind == "lead" or not principal.has_scope("read", "GET"):
        return False
    return principal.is_super_admin or (company_id is not None and principal.company_id == company_id)


def acting_company_id(requested: str | uuid.UUID | None = None) -> uuid.UUID:
    """The company a call acts for: the caller's, or any company for a super admin who names one."""
    principal = current_principal(optional=False)
    if requested and principal.is_super_admin:
        try:
            company_id = uuid.UUID(str(requested))
        except ValueError:
            raise ValidationFailed("Invalid company_id", details={"company_id": ["must be a UUID"]})
        set_company_scope(company_id)
        return company_id
    if principal.company_id is None:
        raise Forbidden("No company context for this principal")
    return principal.company_id
