"""Background work: the Celery app, task records and the task envelope (docs/api-compatibility.md, "Asynchronous tasks").

Every queued job has a `TaskRecord` row whose id is the Celery task id. The API answers
202 with `accepted_body(record)`, the public status route renders `status_body(record)`,
and `RecordedTask` keeps the row in step with the worker. Messages are sent only after
the transaction that created the record commits, so a worker never sees a missing row.
"""
from __future__ import annotations

import logging
import time
import traceback
import uuid
from datetime import datetime
from typing import Any

from celery import Celery, Task
from celery.exceptions import Retry
from flask import Flask, current_app
from kombu import Exchange, Queue
from sqlalchemy import JSON, DateTime, Integer, String, Text, Uuid, event
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import Base, db, iso, utcnow
from .errors import ApiError
from .logs import current_request_id, task_log_context
from .metrics import observe_task
from .tenancy import company_scope

log = logging.getLogger(__name__)

QUEUES = ("critical", "default", "low", "slow", "dead_letter")
# Keys of a task result that must not be copied to the top level of a status body.
RESERVED = {"task_id", "status", "state", "result", "error", "errors", "status_url", "poll_url"}


class TaskRecord(Base):
    __tablename__ = "task_records"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    company_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    queue: Mapped[str] = mapped_column(String(40), default="default", nullable=False)
    state: Mapped[str] = mapped_column(String(20), default="PENDING", nullable=False, index=True)
    progress: Mapped[int | None] = mapped_column(Integer)
    result: Mapped[Any | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(60))
    retries: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    dead_lettered: Mapped[bool] = mapped_column(default=False, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def to_dict(self) -> dict:
        return {"task_id": str(self.id), "name": self.name, "state": self.state, "progress": self.progress,
                "created_at": iso(self.created_at), "started_at": iso(self.started_at),
                "finished_at": iso(self.finished_at)}


def status_url(task_id) -> str:
    return f"/api/v1/tasks/{task_id}/status"


def accepted_body(record: TaskRecord, message: str = "Request accepted and queued for processing.",
                  estimated_time: int = 5, **extra) -> dict:
    return {"status": "accepted", "task_id": str(record.id), "status_url": status_url(record.id),
            "message": message, "estimated_time": estimated_time, **extra}


# Task name -> called with a successful result when its caller reads it from the status route
# (the conversations domain records that the chat answer reached the participant).
_result_readers: dict[str, Any] = {}


def on_result_read(task_name: str):
    def register(fn):
        _result_readers[task_name] = fn
        return fn
    return register


def result_read(record: TaskRecord) -> None:
    reader = _result_readers.get(record.name)
    if reader is not None and record.state == "SUCCESS" and isinstance(record.result, dict):
        reader(record.result)


def status_body(record: TaskRecord) -> dict:
    body: dict[str, Any] = {"task_id": str(record.id), "state": record.state}
    if record.state == "SUCCESS":
        result = record.result
        body["status"] = "completed"
        body["result"] = result
        if isinstance(result, dict):
            for key, value in result.items():
                if key not in RESERVED:
                    body.setdefault(key, value)
    elif record.state == "FAILURE":
        message = record.error or "Task failed"
        body.update(status="failed", error=message, message=message, error_code=record.error_code or "TASK_FAILED")
    else:
        body["status"] = "pending" if record.state == "PENDING" else "processing"
        if record.progress is not None:
            body["progress"] = record.progress
    return body


# --- sending after commit -------------------------------------------------------------

def _pending(session: Session) -> list:
    return session.info.setdefault("knowrithm_pending_tasks", [])


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    pending = session.info.pop("knowrithm_pending_tasks", [])
    for send in pending:
        send()


@event.listens_for(Session, "after_rollback")
def _drop_on_rollback(session: Session) -> None:
    session.info.pop("knowrithm_pending_tasks", None)


def enqueue(task: Task, *, company_id=None, queue: str | None = None, commit: bool = True, **kwargs) -> TaskRecord:
    """Record a task and send it once the current transaction commits.

    `kwargs` must be JSON-serialisable ids and values; `company_id` is passed on so the
    task runs inside that company's scope.
    """
    # Resolve through this Flask app's Celery app: `shared_task` proxies follow whichever
    # Celery app was created last, which need not be ours (several apps in one process).
    task = current_app.extensions["celery"].tasks[task.name]
    record = TaskRecord(id=uuid.uuid4(), name=task.name, company_id=company_id,
                        queue=queue or _queue_for(task), state="PENDING")
    db.session.add(record)
    call_kwargs = dict(kwargs)
    if company_id is not None:
        call_kwargs["company_id"] = str(company_id)
    task_id = str(record.id)
    # The worker logs under the id of the request that queued the task (infra.logs).
    headers = {"request_id": current_request_id()}
    _pending(db.session).append(
        lambda: task.apply_async(kwargs=call_kwargs, task_id=task_id, queue=record.queue, headers=headers)
    )
    if commit:
        db.session.commit()
    return record


def _queue_for(task: Task) -> str:
    routes = task.app.conf.task_routes or {}
    for pattern, route in routes.items():
        if pattern == task.name or (pattern.endswith("*") and task.name.startswith(pattern[:-1])):
            return route["queue"] if isinstance(route, dict) else route
    return getattr(task, "queue", None) or "default"


# --- the task base class ---------------------------------------------------------------

def _update_record(task_id: str | None, **values) -> None:
    if not task_id:
        return
    try:
        key = uuid.UUID(task_id)
    except ValueError:
        return
    db.session.query(TaskRecord).filter(TaskRecord.id == key).update(values)
    db.session.commit()


class RecordedTask(Task):
    """Runs in the Flask app context and the caller's company scope; mirrors state to the row."""

    abstract = True
    acks_late = True
    reject_on_worker_lost = True
    flask_app: Flask | None = None

    def __call__(self, *args, **kwargs):
        app = self.flask_app or self.app.flask_app
        request_id = self.request.get("request_id") or self.request.id
        with app.app_context(), company_scope(kwargs.get("company_id")), \
                task_log_context(request_id=request_id, task=self.name):
            started = time.perf_counter()
            log.info("task started", extra={"task_id": self.request.id})
            outcome = "failure"
            try:
                result = self.run(*args, **kwargs)
                outcome = "success"
            except Retry:
                outcome = "retry"
                log.info("task retrying", extra={"task_id": self.request.id})
                raise
            except Exception:
                log.exception("task failed", extra={"task_id": self.request.id,
                                                    "latency_ms": round((time.perf_counter() - started) * 1000, 2)})
                raise
            finally:
                db.session.remove()
                observe_task(self.name, outcome, time.perf_counter() - started)
            log.info("task finished", extra={"task_id": self.request.id,
                                             "latency_ms": round((time.perf_counter() - started) * 1000, 2)})
            return result

    def before_start(self, task_id, args, kwargs):
        app = self.app.flask_app
        with app.app_context():
            _update_record(task_id, state="STARTED", started_at=utcnow(), retries=self.request.retries or 0)

    def report_progress(self, percent: int) -> None:
        _update_record(self.request.id, state="PROGRESS", progress=int(percent))

    def on_success(self, retval, task_id, args, kwargs):
        with self.app.flask_app.app_context():
            result = retval if isinstance(retval, (dict, list)) or retval is None else {"value": retval}
            _update_record(task_id, state="SUCCESS", result=result, finished_at=utcnow(), error=None)

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        code = exc.code if isinstance(exc, ApiError) else "TASK_FAILED"
        message = str(exc) or exc.__class__.__name__
        with self.app.flask_app.app_context():
            _update_record(task_id, state="FAILURE", error=message[:4000], error_code=code,
                           finished_at=utcnow(), dead_lettered=True)
        # Keep the failed job for operators: a copy goes to the dead_letter queue, which
        # normal workers do not consume (`knowrithm worker -Q dead_letter` drains it).
        try:
            self.app.send_task(
                "knowrithm.dead_letter", queue="dead_letter",
                kwargs={"task_id": task_id, "task_name": self.name, "kwargs": _jsonable(kwargs),
                        "error": message[:4000], "traceback": "".join(traceback.format_exception(exc))[-8000:]},
            )
        except Exception:  # noqa: BLE001 - a broker hiccup must not hide the original failure
            log.exception("could not dead-letter task %s", task_id)


def _jsonable(value):
    import json

    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)


def check_visibility_timeout(celery: Celery) -> list[str]:
    """Late-acknowledged tasks whose hard time limit reaches the Redis visibility timeout: one of
    them still running when the timeout passes would be delivered again and run twice."""
    visibility = (celery.conf.broker_transport_options or {}).get("visibility_timeout", 3600)
    default_limit = celery.conf.task_time_limit or 0
    too_long = []
    for name, task in sorted(celery.tasks.items()):
        acks_late = task.acks_late if task.acks_late is not None else celery.conf.task_acks_late
        if name.startswith("celery.") or not acks_late:
            continue
        limit = task.time_limit if task.time_limit is not None else default_limit
        if not limit or limit >= visibility:
            too_long.append(f"{name} (time limit {limit or 'none'} s)")
    return too_long


def init_celery(app: Flask, *, routes: dict, beat_schedule: dict) -> Celery:
    settings = app.config["SETTINGS"]
    celery = Celery(app.import_name, task_cls=RecordedTask)
    celery.flask_app = app
    exchange = Exchange("knowrithm", type="direct")
    celery.conf.update(
        broker_url=settings.broker_url,
        result_backend=settings.result_backend,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_queues=[Queue(name, exchange, routing_key=name) for name in QUEUES],
        task_default_queue="default",
        task_default_exchange="knowrithm",
        task_default_routing_key="default",
        task_routes=routes,
        # Results live on TaskRecord rows (the status route reads them), not in the backend.
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One message reserved per pool slot: a long ingestion never holds a queued chat answer back.
        worker_prefetch_multiplier=1,
        # Tasks without limits of their own (ingestion, crawls and index builds set longer ones)
        # are stopped before they can hold a worker slot for good.
        task_soft_time_limit=900,
        task_time_limit=960,
        # On a cold shutdown (SIGQUIT, or SIGTERM with REMAP_SIGTERM=SIGQUIT as deploy/k8s sets),
        # running tasks get this long to finish before they are requeued.
        worker_soft_shutdown_timeout=25,
        task_always_eager=settings.CELERY_TASK_ALWAYS_EAGER,
        beat_schedule=beat_schedule,
        broker_connection_retry_on_startup=True,
        result_expires=24 * 3600,
        worker_hijack_root_logger=False,
        # Redis: unacknowledged messages of a dead worker return after the visibility timeout
        # (above every task's hard time limit: see check_visibility_timeout); the restore sweep
        # runs every CELERY_RESTORE_INTERVAL seconds on each consumer.
        broker_transport_options={"visibility_timeout": settings.CELERY_VISIBILITY_TIMEOUT,
                                  "unacked_restore_interval": settings.CELERY_RESTORE_INTERVAL,
                                  "unacked_restore_throttle": 1},
    )
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
