"""Chat answers run on the `critical` queue (task names `knowrithm.conversations.*`)."""
from __future__ import annotations

from celery import shared_task

from . import engine


@shared_task(bind=True, name="knowrithm.conversations.answer", acks_late=True, max_retries=0)
def answer(self, *, company_id: str, conversation_id: str, message_id: str, acknowledged_ms: int) -> dict:
    return engine.answer(conversation_id=conversation_id, message_id=message_id, task_id=self.request.id,
                         acknowledged_ms=acknowledged_ms)
