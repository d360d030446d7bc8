"""Chat answers run on the `critical` queue (task names `knowrithm.conversations.*`)."""
from __future__ import annotations

from celery import shared_task

from knowrithm.infra.tasks import RecordedTask

from . import engine, events


class AnswerTask(RecordedTask):
    """The engine marks the task record STARTED and SUCCESS inside the transactions it commits
    anyway, which saves two connection checkouts and two commits per answer; failures still go
    through `RecordedTask.on_failure`."""

    abstract = True

    def before_start(self, task_id, args, kwargs):
        pass

    def on_success(self, retval, task_id, args, kwargs):
        pass


@shared_task(bind=True, base=AnswerTask, name=events.ANSWER_TASK, acks_late=True, max_retries=0)
def answer(self, *, company_id: str, conversation_id: str, message_id: str, acknowledged_ms: int) -> dict:
    return engine.answer(conversation_id=conversation_id, message_id=message_id, task_id=self.request.id,
                         acknowledged_ms=acknowledged_ms)
