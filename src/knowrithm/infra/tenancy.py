"""Tenant and soft-delete scoping, applied to every ORM SELECT in one place.

A request (or a task) enters `company_scope(company_id)`; from then on every ORM query
against a `TenantOwned` model only sees that company's rows, and every query against a
`SoftDelete` model hides deleted rows. Code that really needs another view says so per
statement with execution options:

    select(Doc).execution_options(include_deleted=True)   # deleted rows too
    select(Doc).execution_options(all_companies=True)     # super-admin / system work

Because "missing" and "not yours" go through the same filter, both answer 404.

Cost. The criteria are lambdas, so SQLAlchemy caches each scoped statement once: the
lambda's code is part of the cache key and `company_id`, a closure variable, becomes a bound
parameter (`track_closure_variables`), so every company shares one compiled statement
(tests/infra/test_tenancy_coverage.py counts compilations). What is left per query is building
the options; they are built once per company and reused (`_options_for`).
"""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Iterator, TypeVar

from sqlalchemy import event, or_, select
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from .db import CatalogOwned, SoftDelete, TenantOwned, db
from .errors import NotFound

_company: ContextVar[uuid.UUID | None] = ContextVar("knowrithm_company", default=None)

T = TypeVar("T")


def current_company_id() -> uuid.UUID | None:
    return _company.get()


@contextmanager
def company_scope(company_id: uuid.UUID | str | None) -> Iterator[None]:
    token = _company.set(uuid.UUID(str(company_id)) if company_id else None)
    try:
        yield
    finally:
        _company.reset(token)


def set_company_scope(company_id: uuid.UUID | str | None) -> None:
    """For request hooks: the scope lives until the request context ends."""
    _company.set(uuid.UUID(str(company_id)) if company_id else None)


_NOT_DELETED = with_loader_criteria(SoftDelete, lambda cls: cls.deleted_at.is_(None), include_aliases=True)


@lru_cache(maxsize=4096)
def _options_for(company_id: uuid.UUID) -> tuple:
    """The company's two criteria options. Building one analyses its lambda's closure; the
    objects are immutable, so one pair per company serves every later query."""
    return (
        with_loader_criteria(TenantOwned, lambda cls: cls.company_id == company_id, include_aliases=True),
        with_loader_criteria(CatalogOwned, lambda cls: or_(cls.company_id.is_(None), cls.company_id == company_id),
                             include_aliases=True),
    )


@event.listens_for(Session, "do_orm_execute")
def _scope_queries(state: ORMExecuteState) -> None:
    if not state.is_select:
        return
    opts = state.execution_options
    options: tuple = () if opts.get("include_deleted", False) else (_NOT_DELETED,)
    company_id = _company.get()
    if company_id is not None and not opts.get("all_companies", False):
        options += _options_for(company_id)
    if options:
        state.statement = state.statement.options(*options)


def get_or_404(model: type[T], ident, *, include_deleted: bool = False, what: str | None = None) -> T:
    """Load one row by primary key through the scoping rules; 404 when absent or not the caller's."""
    try:
        key = ident if isinstance(ident, int) else uuid.UUID(str(ident))
    except (ValueError, TypeError):
        raise NotFound(f"{what or model.__name__} not found")
    stmt = select(model).where(model.id == key).execution_options(include_deleted=include_deleted)
    row = db.session.execute(stmt).scalar_one_or_none()
    if row is None:
        raise NotFound(f"{what or model.__name__} not found")
    return row
