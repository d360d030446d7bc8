"""The chat events of CONTRACT §1.8, published on the conversation's topic.

Same names and payloads for SSE (and Socket.IO should it be added): `chat_status` for the
lifecycle, `chat_response` for the final reply, `chat_delta` for text as the model writes
it (not replayed: the final `chat_response` carries the whole text)."""
from __future__ import annotations

from knowrithm.infra.redis import get_redis
from knowrithm.infra.streaming import publish


def chat_status(*, conversation_id, message_id, task_id, status: str, acknowledged_ms: int, **extra) -> None:
    data = {"conversation_id": str(conversation_id), "message_id": str(message_id), "task_id": str(task_id),
            "status": status, **extra}
    publish(get_redis(), str(conversation_id), "chat_status", data, key=str(message_id),
            acknowledged_ms=acknowledged_ms)


def chat_response(*, conversation_id, message_id, task_id, acknowledged_ms: int, message: dict | None = None,
                  error: str | None = None) -> None:
    data = {"conversation_id": str(conversation_id), "message_id": str(message_id), "task_id": str(task_id),
            "status": "failed" if error else "completed", "message": message}
    if error:
        data["error"] = error
    publish(get_redis(), str(conversation_id), "chat_response", data, key=str(message_id),
            acknowledged_ms=acknowledged_ms)


def chat_delta(*, conversation_id, message_id, task_id, delta: str, model: str) -> None:
    data = {"conversation_id": str(conversation_id), "message_id": str(message_id), "task_id": str(task_id),
            "delta": delta, "model": model}
    publish(get_redis(), str(conversation_id), "chat_delta", data, replayable=False)
