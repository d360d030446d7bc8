"""Brings a database to a usable state: migrations, then idempotent seeds."""
from __future__ import annotations

import json
import os
import secrets

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import text

from .infra.db import db


def bootstrap(app: Flask, revision: str = "head") -> dict:
    """Returns the revision and the super admin's login; `admin_password` is the password that
    works right now, or a note when it was changed after the first start (we never reset it)."""
    from .app import MIGRATIONS_DIR
    from .domains.auth.passwords import verify_password
    from .domains.auth.service import ensure_super_admin

    upgrade(directory=MIGRATIONS_DIR, revision=revision)
    settings = app.config["SETTINGS"]
    generated = False
    if not settings.SUPER_ADMIN_PASSWORD and not _super_admin_exists(settings.SUPER_ADMIN_EMAIL):
        # First start without SUPER_ADMIN_PASSWORD (e.g. `knowrithm db upgrade`): make one and print it once.
        settings = settings.model_copy(update={"SUPER_ADMIN_PASSWORD": secrets.token_urlsafe(12)})
        generated = True
    admin = ensure_super_admin(settings)
    from .domains import seeders

    for seed in seeders():  # reference data each domain needs out of the box (idempotent)
        seed()
    current = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    password = settings.SUPER_ADMIN_PASSWORD
    if not password or not verify_password(admin.password_hash, password):
        password = "(changed since it was seeded; not shown)"
    db.session.commit()
    return {"revision": current, "admin_email": admin.email, "admin_password": password,
            "password_generated": generated}


def _super_admin_exists(email: str) -> bool:
    found = db.session.execute(text("SELECT 1 FROM users WHERE lower(email) = lower(:e)"), {"e": email}).first()
    return found is not None


def bootstrapped_app(report_path: str | None = None) -> Flask:
    """WSGI factory for `knowrithm up`: `gunicorn --preload 'knowrithm.bootstrap:bootstrapped_app(...)'`.

    gunicorn calls it once, in its master, before it opens the port and forks the workers; so
    the app is imported once for both migrating and serving (start-up on a small machine is
    mostly imports), and nobody reaches the API before the schema is current. The login goes
    to `report_path` (0600) for `up` to print.
    """
    from .app import create_app

    app = create_app()
    with app.app_context():
        try:
            info = bootstrap(app)
        finally:
            db.session.remove()
            db.engine.dispose()  # no connection may be shared with the forked workers
    if report_path:
        fd = os.open(report_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(info, out)
    return app

