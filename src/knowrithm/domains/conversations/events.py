"""The chat events, published on the conversation's topic.

Same names and payloads for SSE and Socket.IO: `chat_status` for the
lifecycle, `chat_response` for the final reply, `chat_delta` for text as the model writes
it (not replayed: the final `chat_response` carries the whole text)."""
from __future__ import annotations

from flask import current_app

from knowrithm.infra import realtime
from knowrithm.infra.redis import get_redis
from knowrithm.infra.streaming import mark_seen, publish
from knowrithm.infra.tasks import on_result_read

ANSWER_TASK = "knowrithm.conversations.answer"


def chat_status(*, conversation_id, message_id, task_id, status: str, acknowledged_ms: int, **extra) -> None:
    data = {"conversation_id": str(conversation_id), "message_id": str(message_id), "task_id": str(task_id),
            "status": status, **extra}
    publish(get_redis(), str(conversation_id), "chat_status", data, key=str(message_id),
            acknowledged_ms=acknowledged_ms)
    _to_sockets("chat_status", data)


def chat_response(*, conversation_id, message_id, task_id, acknowledged_ms: int, message: dict | None = None,
                  error: str | None = None, error_code: str | None = None) -> None:
    data = {"conversation_id": str(conversation_id), "message_id": str(message_id), "task_id": str(task_id),
            "status": "failed" if error else "completed", "message": message}
    if error:
        data["error"] = error
        data["error_code"] = error_code or "ANSWER_FAILED"
    publish(get_redis(), str(conversation_id), "chat_response", data, key=str(message_id),
            acknowledged_ms=acknowledged_ms)
    _to_sockets("chat_response", data)


def _to_sockets(event: str, data: dict) -> None:
    from .realtime import room

    realtime.emit(current_app.config["SETTINGS"].redis_url, event, data, room(data["conversation_id"]))


def chat_delta(*, conversation_id, message_id, task_id, delta: str, model: str) -> None:
    data = {"conversation_id": str(conversation_id), "message_id": str(message_id), "task_id": str(task_id),
            "delta": delta, "model": model}
    publish(get_redis(), str(conversation_id), "chat_delta", data, replayable=False)


def answers_received(conversation_id, user_message_ids) -> None:
    """The participant has these answers; no later stream replays them."""
    mark_seen(get_redis(), str(conversation_id), [str(i) for i in user_message_ids if i])


@on_result_read(ANSWER_TASK)
def _answer_result_read(result: dict) -> None:
    # The task id went only to whoever sent the message: reading its result is receiving the answer.
    if result.get("conversation_id") and result.get("message_id"):
        answers_received(result["conversation_id"], [result["message_id"]])
