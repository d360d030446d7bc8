"""Business domains, discovered by convention: a domain's `routes.py` exposes `bp`, its
`tasks.py` holds Celery tasks, its `seed.py` exposes `seed()` for reference data."""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

_HERE = Path(__file__).parent


def _domains() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(_HERE)]) if m.ispkg)


def _modules(kind: str) -> list[str]:
    return [f"{__name__}.{d}.{kind}" for d in _domains() if (_HERE / d / f"{kind}.py").exists()]


def blueprints():
    return [importlib.import_module(m).bp for m in _modules("routes")]


def task_modules() -> list[str]:
    return _modules("tasks")


def realtime_modules() -> list[str]:
    """Modules registering Socket.IO handlers with `infra.realtime.on_init`."""
    return _modules("realtime")


def seeders():
    return [importlib.import_module(m).seed for m in _modules("seed")]


def init_domains(app) -> None:
    """Hooks domains install on the app (principal resolution, data-access audit, API-key request log,
    re-embedding, the vector index after an ingestion)."""
    from knowrithm.infra.api import set_access_auditor
    from knowrithm.infra.auth import set_resolver

    from .analytics import business_metrics  # noqa: F401  (listeners)
    from .audit.access import record_access
    from .auth import request_log
    from .auth.principal import resolve
    from .documents.tasks import queue_reembed
    from .llm.service import set_reembed_queue
    from .search import hooks as search_hooks

    set_resolver(resolve)
    set_access_auditor(record_access)
    request_log.install(app)
    set_reembed_queue(queue_reembed)
    search_hooks.install()
