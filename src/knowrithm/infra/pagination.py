"""Pagination: `page` is 1-based, `per_page` capped at 100, and one metadata block for every
listing (docs/api-compatibility.md, "Pagination")."""
from __future__ import annotations

from sqlalchemy import Select, func, select

from .db import db

MAX_PER_PAGE = 100


def paginate(stmt: Select, page: int = 1, per_page: int = 20, *, max_per_page: int = MAX_PER_PAGE,
             **options) -> tuple[list, dict]:
    """Runs `stmt` for one page and counts the whole result; `options` are execution options."""
    page = max(1, int(page or 1))
    per_page = max(1, min(int(per_page or 20), max_per_page))
    total = db.session.execute(
        select(func.count()).select_from(stmt.order_by(None).subquery()).execution_options(**options)
    ).scalar_one()
    items = list(db.session.execute(
        stmt.limit(per_page).offset((page - 1) * per_page).execution_options(**options)
    ).scalars())
    return items, page_meta(page, per_page, total)


def page_meta(page: int, per_page: int, total: int) -> dict:
    """The `pagination` block of a listing whose rows were counted elsewhere."""
    pages = (total + per_page - 1) // per_page if total else 0
    return {"page": page, "per_page": per_page, "total": total, "pages": pages,
            "has_next": page < pages, "has_prev": page > 1}
