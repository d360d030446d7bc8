"""Platform housekeeping tasks."""
from __future__ import annotations

import logging
import socket
from datetime import timedelta

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown

from knowrithm.infra.db import db, utcnow
from knowrithm.infra.tasks import TaskRecord

log = logging.getLogger(__name__)
_heartbeat = {}


@shared_task(name="knowrithm.system.roundtrip")
def roundtrip(payload: str = "ping") -> dict:
    """Proves the path API -> broker -> worker -> database -> status route."""
    count = db.session.query(TaskRecord).count()
    return {"message": "pong" if payload == "ping" else payload, "worker": socket.gethostname(),
            "task_records_seen": count}


@shared_task(name="knowrithm.maintenance.prune_task_records")
def prune_task_records(days: int = 7) -> dict:
    cutoff = utcnow() - timedelta(days=days)
    deleted = db.session.query(TaskRecord).filter(TaskRecord.finished_at < cutoff).delete()
    db.session.commit()
    return {"deleted": deleted}


@shared_task(name="knowrithm.dead_letter", acks_late=False)
def dead_letter(task_id: str, task_name: str, kwargs=None, error: str = "", traceback: str = "") -> dict:
    """Consumed only by a worker started with `-Q dead_letter`: logs the failed job for operators."""
    log.error("dead-lettered task", extra={"task_id": task_id, "task_name": task_name, "error": error})
    return {"task_id": task_id, "task_name": task_name, "error": error}


@worker_ready.connect
def _start_heartbeat(sender=None, **_):
    from knowrithm.domains.system.health import start_worker_heartbeat

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
