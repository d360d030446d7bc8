"""The dead-letter queue: a copy of every task that failed for good, kept for operators.

`RecordedTask.on_failure` (infra/tasks.py) sends the copy to the `dead_letter` queue, which no
worker consumes unless told to. `knowrithm tasks dead-letter list` shows what is there without
removing it; `... replay` sends chosen tasks again under their original task id, so the status
route follows the new attempt, and removes them from the queue.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from celery import Celery
from kombu import Exchange, Queue
from kombu.message import Message
from kombu.simple import SimpleQueue

from knowrithm.infra.db import db
from knowrithm.infra.tasks import TaskRecord, _queue_for

QUEUE = "dead_letter"


@dataclass
class DeadLetter:
    message: Message
    task_id: str
    task_name: str
    kwargs: dict
    error: str

    def to_dict(self) -> dict:
        return {"task_id": self.task_id, "task_name": self.task_name, "kwargs": self.kwargs, "error": self.error}


def _open(conn) -> SimpleQueue:
    queue = Queue(QUEUE, Exchange("knowrithm", type="direct"), routing_key=QUEUE)
    return conn.SimpleQueue(queue, no_ack=False)


def _take_all(simple: SimpleQueue, limit: int) -> list[DeadLetter]:
    """Takes (unacknowledged) up to `limit` messages; each must be acked or requeued."""
    taken = []
    while len(taken) < limit:
        try:
            message = simple.get(block=False)
        except simple.Empty:
            break
        body = message.decode()
        kwargs = body[1] if isinstance(body, (list, tuple)) and len(body) > 1 else {}
        taken.append(DeadLetter(message, str(kwargs.get("task_id", "")), str(kwargs.get("task_name", "")),
                                kwargs.get("kwargs") or {}, str(kwargs.get("error", ""))))
    return taken


def _requeue(letters: list[DeadLetter]) -> None:
    for letter in reversed(letters):  # back in the order they were taken
        letter.message.requeue()


def list_dead_letters(celery: Celery, limit: int = 1000) -> list[dict]:
    with celery.connection_for_write() as conn:
        simple = _open(conn)
        letters = _take_all(simple, limit)
        try:
            return [letter.to_dict() for letter in letters]
        finally:
            _requeue(letters)
            simple.close()


def replay(celery: Celery, task_ids: set[str] | None, limit: int = 1000) -> list[dict]:
    """Sends the chosen dead letters (all when `task_ids` is None) again; returns what was replayed."""
    replayed: list[dict] = []
    with celery.connection_for_write() as conn:
        simple = _open(conn)
        letters = _take_all(simple, limit)
        keep = []
        try:
            for letter in letters:
                if (task_ids is not None and letter.task_id not in task_ids) or letter.task_name not in celery.tasks:
                    keep.append(letter)
                    continue
                task = celery.tasks[letter.task_name]
                _reset_record(letter.task_id)
                task.apply_async(kwargs=letter.kwargs, task_id=letter.task_id or None, queue=_queue_for(task))
                letter.message.ack()
                replayed.append(letter.to_dict())
        finally:
            _requeue(keep)
            simple.close()
    return replayed


def _reset_record(task_id: str) -> None:
    """The status route shows the new attempt as pending, not the old failure."""
    try:
        key = uuid.UUID(task_id)
    except ValueError:
        return
    db.session.query(TaskRecord).filter(TaskRecord.id == key).update(
        {"state": "PENDING", "error": None, "error_code": None, "finished_at": None, "dead_lettered": False,
         "result": None, "progress": None})
    db.session.commit()
