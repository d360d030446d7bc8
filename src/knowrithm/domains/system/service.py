from __future__ import annotations

import uuid

from knowrithm.infra.db import db
from knowrithm.infra.errors import NotFound
from knowrithm.infra.tasks import TaskRecord, accepted_body, enqueue, status_body


def task_status(task_id: str) -> dict:
    try:
        key = uuid.UUID(task_id)
    except ValueError:
        raise NotFound("Task not found", code="TASK_NOT_FOUND")
    record = db.session.get(TaskRecord, key)
    if record is None:
        raise NotFound("Task not found", code="TASK_NOT_FOUND")
    db.session.refresh(record)
    return status_body(record)


def queue_roundtrip() -> dict:
    from .tasks import roundtrip

    record = enqueue(roundtrip, payload="ping")
    return accepted_body(record, message="Round-trip task queued.", estimated_time=1)
