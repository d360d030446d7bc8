"""Application factory: wires settings, extensions, blueprints and error handlers."""
from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask_migrate import Migrate

from .config import Settings, check_production
from .infra import read_cache
from .infra.db import db, lazy_transactions, ping_after_idle
from .infra.errors import register_error_handlers
from .infra.http import init_http, is_read_request
from .infra.json_provider import OrjsonProvider
from .infra.logs import configure_logging
from .infra.redis import init_redis
from .infra.tasks import init_celery

MIGRATIONS_DIR = str(Path(__file__).parent / "migrations")
migrate = Migrate(directory=MIGRATIONS_DIR, compare_type=True)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings()
    check_production(settings)
    from .integrations.rerank import get_reranker

    get_reranker(settings)  # a misconfigured reranker stops the start, not every search
    configure_logging(settings.LOG_LEVEL, settings.LOG_JSON)

    app = Flask(__name__)
    app.config.update(
        SETTINGS=settings,
        SECRET_KEY=settings.SECRET_KEY,
        SQLALCHEMY_DATABASE_URI=_normalise_db_uri(settings.SQLALCHEMY_DATABASE_URI),
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(settings),
        # Werkzeug enforces this while reading the body: uploads beyond it stop early with 413.
        MAX_CONTENT_LENGTH=settings.MAX_FILE_SIZE + 1024 * 1024,
        MAX_FORM_MEMORY_SIZE=settings.MAX_FILE_SIZE,
        JSON_SORT_KEYS=False,
    )
    app.json = OrjsonProvider(app)

    from . import models  # noqa: F401  (registers every table)

    db.init_app(app)
    with app.app_context():
        ping_after_idle(db.engine)
        lazy_transactions(db.engine, is_read_request)
    migrate.init_app(app, db)
    init_redis(app)
    with app.app_context():
        # After lazy_transactions: a write has left autocommit by the time it is classified.
        read_cache.install(app, db.engine, db.metadata)
    from .worker import BEAT_SCHEDULE, TASK_ROUTES

    init_celery(app, routes=TASK_ROUTES, beat_schedule=BEAT_SCHEDULE)
    from .domains import task_modules

    for module in task_modules():  # the API sends them, the worker runs them
        __import__(module)
    init_http(app)
    from .infra import metrics

    metrics.install(app)
    register_error_handlers(app)
    _register_blueprints(app)
    if settings.SOCKETIO_ENABLED:
        _mount_socketio(app)
    return app


def _mount_socketio(app: Flask) -> None:
    import importlib

    from .domains import realtime_modules
    from .infra import realtime

    for module in realtime_modules():
        importlib.import_module(module)
    realtime.mount(app)


def _register_blueprints(app: Flask) -> None:
    from .domains import blueprints, init_domains

    init_domains(app)

    from .domains.system.routes import register_docs

    for bp in blueprints():
        app.register_blueprint(bp, url_prefix="/api/v1")
    register_docs(app)
    from .domains.console.pages import register_console

    register_console(app)


def engine_options(settings: Settings) -> dict:
    """A connection cut by a database restart or failover is replaced before use: checkouts after
    an idle spell are pinged (infra.db.ping_after_idle, installed in create_app), not every one."""
    options = {"pool_size": settings.SQLALCHEMY_POOL_SIZE,
               "max_overflow": settings.SQLALCHEMY_MAX_OVERFLOW}
    if settings.PGBOUNCER_TRANSACTION_MODE:
        options["connect_args"] = {"prepare_threshold": None}
    return options


def _normalise_db_uri(uri: str | None) -> str:
    if not uri:
        raise RuntimeError("SQLALCHEMY_DATABASE_URI is not set (use `knowrithm up` for the embedded database)")
    # Accept the common spellings; we always talk to PostgreSQL through psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if uri.startswith(prefix):
            return "postgresql+psycopg://" + uri[len(prefix):]
    return uri
