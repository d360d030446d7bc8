from __future__ import annotations

import uuid

from knowrithm.infra.db import db
from knowrithm.infra.errors import NotFound
from knowrithm.infra.tasks import TaskRecord, accepted_body, enqueue, result_read, status_body

from .tasks import roundtrip


TASK_FAILED_PLAIN = "The task failed. Please try again in a moment."


def task_status(task_id: str, *, reveal_error=lambda company_id: True) -> dict:
    try:
        key = uuid.UUID(task_id)
    except ValueError:
        raise NotFound("Task not found", code="TASK_NOT_FOUND")
    record = db.session.get(TaskRecord, key)
    if record is None:
        raise NotFound("Task not found", code="TASK_NOT_FOUND")
    db.session.refresh(record)
    result_read(record)
    body = status_body(record)
    if body.get("status") == "failed" and not reveal_error(record.company_id):
        body.update(error=TASK_FAILED_PLAIN, message=TASK_FAILED_PLAIN)
    return body


def queue_roundtrip() -> dict:
    record = enqueue(roundtrip, payload="ping")
    return accepted_body(record, message="Round-trip task queued.", estimated_time=1)
