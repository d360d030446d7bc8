"""Shared by the companies, geography and admin tests: JWTs for each role and direct rows."""
from __future__ import annotations

import uuid

PLAIN_PASSWORD = "Plain-User-Pass-123!"


def login(http, email: str, password: str) -> str:
    resp = http.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def admin_headers(http, tenant) -> dict:
    """Bearer headers of the tenant's company admin."""
    return bearer(login(http, tenant.admin_email, tenant.password))


def make_user(app, tenant, *, role="user", email=None, **fields) -> uuid.UUID:
    """A user of the tenant's company, inserted directly (the users domain tests creation)."""
    from knowrithm.domains.auth.models import User
    from knowrithm.domains.auth.passwords import hash_password
    from knowrithm.infra.db import db

    email = email or f"{role}-{uuid.uuid4().hex[:8]}@{tenant.admin_email.split('@')[1]}"
    with app.app_context():
        user = User(company_id=tenant.company_id, email=email, username=email.split("@")[0].replace("-", "_"),
                    password_hash=hash_password(PLAIN_PASSWORD), role=role, **{"status": "active", **fields})
        db.session.add(user)
        db.session.commit()
        user_id = user.id
        db.session.remove()
    return user_id


def user_headers(app, http, tenant, role="user") -> dict:
    """Bearer headers of a fresh user with `role` in the tenant's company."""
    user_id = make_user(app, tenant, role=role)
    with app.app_context():
        from knowrithm.domains.auth.models import User
        from knowrithm.infra.db import db

        email = db.session.get(User, user_id).email
        db.session.remove()
    return bearer(login(http, email, PLAIN_PASSWORD))


def audit_rows(app, event_type: str) -> list:
    from sqlalchemy import select

    from knowrithm.domains.audit.models import AuditLog
    from knowrithm.infra.db import db

    with app.app_context():
        rows = list(db.session.execute(select(AuditLog).where(AuditLog.event_type == event_type)
                                       .order_by(AuditLog.created_at)).scalars())
        db.session.expunge_all()
        db.session.remove()
    return rows


def load(app, model, ident):
    """A row read straight from the database (deleted ones too), detached."""
    from sqlalchemy import select

    from knowrithm.infra.db import db

    with app.app_context():
        row = db.session.execute(select(model).where(model.id == ident)
                                 .execution_options(include_deleted=True, all_companies=True)).scalar_one_or_none()
        if row is not None:
            db.session.expunge(row)
        db.session.remove()
    return row
