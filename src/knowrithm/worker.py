"""Celery entry point (`celery -A knowrithm.worker ...`) and the one routing and beat table."""
from __future__ import annotations

from celery.schedules import crontab

# Task name prefix -> queue. Chat answers are latency-critical; ingestion is slow.
TASK_ROUTES = {
    "knowrithm.conversations.*": {"queue": "critical"},
    "knowrithm.auth.*": {"queue": "critical"},
    "knowrithm.documents.*": {"queue": "slow"},
    "knowrithm.websites.*": {"queue": "slow"},
    "knowrithm.databases.*": {"queue": "slow"},
    "knowrithm.maintenance.*": {"queue": "low"},
    "knowrithm.dead_letter": {"queue": "dead_letter"},
    "knowrithm.*": {"queue": "default"},
}

BEAT_SCHEDULE = {
    "prune-task-records": {"task": "knowrithm.maintenance.prune_task_records", "schedule": 3600.0},
    "check-capacity": {"task": "knowrithm.maintenance.check_capacity", "schedule": 60.0},
    "requeue-orphaned-tasks": {"task": "knowrithm.maintenance.requeue_orphaned_tasks", "schedule": 60.0},
    "flush-api-request-logs": {"task": "knowrithm.maintenance.flush_api_request_logs", "schedule": 60.0},
    # five minutes past each hour: the last hour's logs are in (buffers flush every minute)
    "roll-up-request-logs": {"task": "knowrithm.maintenance.roll_up_request_logs",
                             "schedule": crontab(minute=5)},
    "reap-stuck-documents": {"task": "knowrithm.documents.reap_stuck_documents", "schedule": 600.0},
    "schedule-website-crawls": {"task": "knowrithm.maintenance.schedule_website_crawls", "schedule": 300.0},
    "vector-indexes": {"task": "knowrithm.maintenance.vector_indexes", "schedule": 600.0},
    # Data lifecycle, nightly (UTC): soft-deleted rows past their grace period.
    "purge-soft-deleted": {"task": "knowrithm.maintenance.purge_soft_deleted", "schedule": crontab(hour=3, minute=10)},
    "enforce-retention": {"task": "knowrithm.maintenance.enforce_retention", "schedule": crontab(hour=3, minute=40)},
    "nightly-backup": {"task": "knowrithm.maintenance.nightly_backup", "schedule": crontab(hour=2, minute=30)},
}

WORKER_QUEUES = "critical,default,low,slow"

# The recommended layout on one node (measured in BENCHMARKS.md, "Chat overhead"): chat answers get
# their own worker with a thread pool. An answer mostly waits on the model, PostgreSQL and Redis, so
# 32 threads serve 32 answers at once, where a prefork child is held for a whole model call (four
# children = four answers in flight; the rest queue). Ingestion stays on prefork: it is CPU-bound.
CRITICAL_WORKER_ARGS = ("-Q", "critical", "--pool", "threads", "--concurrency", "32")
OTHER_QUEUES = "default,low,slow"


def __getattr__(name: str):
    # Built lazily so that importing the routing table does not build an app.
    if name in ("celery", "app"):
        import os
        import tempfile

        # Prometheus multiprocess mode for prefork children (infra/metrics.py): set before the
        # app imports prometheus-client. A directory named in the environment is cleared when
        # the worker starts (system.tasks), not here: beat and `celery inspect` load this too.
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="knowrithm-metrics-worker-")
        from .app import create_app

        flask_app = create_app()
        celery = flask_app.extensions["celery"]
        _import_tasks()
        globals()["celery"] = globals()["app"] = celery
        return celery
    raise AttributeError(name)


def _import_tasks() -> None:
    from .domains import task_modules

    for module in task_modules():
        __import__(module)
