"""Platform housekeeping tasks."""
from __future__ import annotations

import logging
import os
import socket
import time
from datetime import timedelta

from celery import shared_task
from celery.signals import (task_postrun, task_received, worker_init, worker_process_shutdown, worker_ready,
                            worker_shutdown)
from flask import current_app

from knowrithm.infra.db import db, utcnow
from knowrithm.infra import metrics_dir
from knowrithm.infra import redelivery
from knowrithm.infra.metrics import capacity, mark_process_dead, start_worker_exporter
from knowrithm.infra.redis import WORKER_STALE_SECONDS, WORKERS_KEY
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
    if hostname and redelivery.is_redis_broker(app.conf.broker_url):
        # Restarted in place (same node name): what the previous life held is nobody's now.
        try:
            redelivery.requeue_orphans(app.conf.broker_url, flask_app.extensions["redis"], workers=[hostname])
        except Exception:  # noqa: BLE001 - the visibility timeout still returns them
            log.warning("could not requeue the previous run's messages", exc_info=True)
    _heartbeat["stop"] = start_worker_heartbeat(flask_app.extensions["redis"], hostname=hostname)


# Every message a worker holds is noted under its node name until it is done, so that what a
# dead worker held can be given back long before the visibility timeout (infra/redelivery.py).
def _note(app, worker, task_id, tag=None, *, done: bool) -> None:
    flask_app = getattr(app, "flask_app", None)
    if flask_app is None or not worker or not redelivery.is_redis_broker(app.conf.broker_url):
        return
    client = flask_app.extensions["redis"]
    try:
        if done:
            redelivery.note_done(client, worker, task_id)
        else:
            redelivery.note_received(client, worker, task_id, tag)
    except Exception:  # noqa: BLE001 - bookkeeping for redelivery must not fail the task
        log.warning("could not note the message's %s", "end" if done else "receipt", exc_info=True)


@task_received.connect
def _note_received(sender=None, request=None, **_):
    if request is not None:
        _note(getattr(sender, "app", None), request.hostname, request.id,
              getattr(request.message, "delivery_tag", None), done=False)


@task_postrun.connect
def _note_done(sender=None, task=None, task_id=None, **_):
    task = task or sender
    if task is not None:
        _note(task.app, task.request.hostname, task_id or task.request.id, done=True)


# A node silent for this long is gone (its heartbeat beats every 10 s); notes younger than this
# are left alone, so a worker whose first heartbeat is still due never loses a message.
ORPHAN_AFTER = 2 * WORKER_STALE_SECONDS


@shared_task(name="knowrithm.maintenance.requeue_orphaned_tasks")
def requeue_orphaned_tasks() -> dict:
    """Every minute: give back the messages held by workers whose heartbeat stopped."""
    celery, client = current_app.extensions["celery"], current_app.extensions["redis"]
    cutoff = time.time() - ORPHAN_AFTER
    live = {name.decode() if isinstance(name, bytes) else name
            for name in client.zrangebyscore(WORKERS_KEY, cutoff, "+inf")}
    return {"requeued": redelivery.requeue_orphans(celery.conf.broker_url, client, live=live, noted_before=cutoff)}


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
