"""Platform housekeeping tasks."""
from __future__ import annotations

import logging
import os
import socket
import time
from datetime import timedelta

from celery import shared_task
from celery.signals import worker_init, worker_process_shutdown, worker_ready, worker_shutdown
from flask import current_app

from knowrithm.infra.db import db, utcnow
from knowrithm.infra import metrics_dir
from knowrithm.infra.metrics import capacity, mark_process_dead, start_worker_exporter
from knowrithm.infra.tasks import TaskRecord, check_visibility_timeout

from .health import start_worker_heartbeat

log = logging.getLogger(__name__)
_heartbeat = {}


@shared_task(bind=True, name="knowrithm.system.roundtrip")
def roundtrip(self, payload: str = "ping", hold_seconds: float = 0) -> dict:
    """Proves the path API -> broker -> worker -> database -> status route. `hold_seconds` (at
    most a minute) keeps the worker busy first: how redelivery after a worker's death is shown."""
    time.sleep(min(max(float(hold_seconds), 0.0), 60.0))
    count = db.session.query(TaskRecord).count()
    return {"message": "pong" if payload == "ping" else payload, "worker": socket.gethostname(),
            "node": self.request.hostname, "task_records_seen": count}


@shared_task(name="knowrithm.maintenance.prune_task_records")
def prune_task_records(days: int = 7) -> dict:
    cutoff = utcnow() - timedelta(days=days)
    deleted = db.session.query(TaskRecord).filter(TaskRecord.finished_at < cutoff).delete()
    db.session.commit()
    return {"deleted": deleted}


@shared_task(name="knowrithm.maintenance.check_capacity")
def check_capacity() -> dict:
    """Every minute: queue backlog and upload-disk warnings, whether or not Prometheus scrapes."""
    return capacity(current_app)


@shared_task(name="knowrithm.dead_letter", acks_late=False)
def dead_letter(task_id: str, task_name: str, kwargs=None, error: str = "", traceback: str = "") -> dict:
    """Consumed only by a worker started with `-Q dead_letter`: logs the failed job for operators."""
    log.error("dead-lettered task", extra={"task_id": task_id, "task_name": task_name, "error": error})
    return {"task_id": task_id, "task_name": task_name, "error": error}


@worker_ready.connect
def _start_heartbeat(sender=None, **_):
    app = sender.app if sender is not None else None
    flask_app = getattr(app, "flask_app", None)
    if flask_app is None:
        return
    hostname = getattr(sender, "hostname", None)
    _heartbeat["stop"] = start_worker_heartbeat(flask_app.extensions["redis"], hostname=hostname)


@worker_shutdown.connect
def _stop_heartbeat(**_):
    stop = _heartbeat.pop("stop", None)
    if stop:
        stop.set()


@worker_init.connect
def _start_metrics_exporter(sender=None, **_):
    flask_app = getattr(getattr(sender, "app", None), "flask_app", None)
    if flask_app is None:
        return
    # The worker's master starts before its pool forks: any other process's samples in its
    # directory are a previous run's (infra/metrics_dir.py).
    if os.environ.get(metrics_dir.ENV):
        metrics_dir.clear_stale(os.environ[metrics_dir.ENV], keep_pid=os.getpid())
    start_worker_exporter(flask_app)


@worker_init.connect
def _check_visibility_timeout(sender=None, **_):
    app = getattr(sender, "app", None)
    if app is None or not str(app.conf.broker_url or "").startswith(("redis", "unix")):
        return
    too_long = check_visibility_timeout(app)
    if too_long:
        log.error("CELERY_VISIBILITY_TIMEOUT (%s s) does not exceed the hard time limit of %s: such a task still "
                  "running when it passes is delivered again", app.conf.broker_transport_options.get(
                      "visibility_timeout"), ", ".join(too_long))


@worker_process_shutdown.connect
def _forget_child_metrics(pid=None, **_):
    mark_process_dead(pid or os.getpid())
