"""Chat, the answer task, SSE streaming (docs/api-compatibility.md, "Streaming"), lead tokens and feedback."""
import json
import uuid

import pytest
import requests
from knowrithm_py.dataclass.error import KnowrithmAPIError

from tests.conftest import poll_task
from tests.widget.helpers import make_agent


def _status(call) -> int:
    with pytest.raises(KnowrithmAPIError) as err:
        call()
    return err.value.status_code


def _until_response(stream, limit=50):
    seen = []
    for event in stream:
        seen.append(event)
        if event.event == "chat_response" or len(seen) >= limit:
            break
    stream.close()
    return seen


def _register(sdk_factory, agent_id, email):
    body = sdk_factory().leads.register_lead({"agent_id": str(agent_id), "first_name": "Vi", "last_name": "Sitor",
                                              "email": email})
    return body, {"Authorization": f"Bearer {body['access_token']}"}


def test_chat_ack_then_answer_without_knowledge_says_so(app, companies, sdk_a, http, celery_worker):
    agent_id = make_agent(app, companies[0])
    conv_id = sdk_a.conversations.create_conversation(str(agent_id))["id"]
    ack = sdk_a._make_request("POST", f"/conversation/{conv_id}/chat", data={"message": "What is the refund policy?"})
    assert ack["status"] == "queued" and ack["conversation_id"] == conv_id
    assert ack["status_url"] == f"/api/v1/tasks/{ack['task_id']}/status"
    assert ack["poll_url"] == f"/api/v1/conversation/{conv_id}/messages"
    assert "stream_url" not in ack
    # The user's message is visible as soon as the acknowledgement is returned.
    first = sdk_a.conversations.list_conversation_messages(conv_id)["messages"]
    assert first[0]["id"] == ack["message_id"] and first[0]["role"] == "user"

    result = sdk_a.resolve_async_task(ack)
    assert result["message_id"] == ack["message_id"] and result["role"] == "assistant"
    assert result["answered"] is False and "couldn't find" in result["content"]
    assert result["sources"] == [] and result["metadata"]["cited_sources"] == []
    msgs = sdk_a.conversations.list_conversation_messages(conv_id)["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant"]
    assert msgs[1]["id"] == result["assistant_message_id"] and msgs[1]["reply_to_id"] == ack["message_id"]
    assert msgs[1]["processing_time"] is not None and msgs[1]["answered"] is False
    conv = sdk_a.conversations.list_conversations()["conversations"][0]
    assert conv["message_count"] == 2


def test_chat_bad_input_and_foreign_conversation(app, companies, sdk_a, sdk_b, http):
    agent_id = make_agent(app, companies[0])
    conv_id = sdk_a.conversations.create_conversation(str(agent_id))["id"]
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.messages.send_message(conv_id, "   ")
    assert err.value.status_code == 400 and "message" in err.value.response_data["details"]
    assert _status(lambda: sdk_a.messages.send_message(conv_id, "x" * 8001)) == 400
    assert _status(lambda: sdk_b.messages.send_message(conv_id, "hello")) == 404
    assert _status(lambda: sdk_a.messages.send_message(str(uuid.uuid4()), "hello")) == 404
    assert sdk_a.conversations.list_conversation_messages(conv_id)["messages"] == []


def test_send_message_stream_true_reads_real_sse_events(app, companies, sdk_a, celery_worker):
    agent_id = make_agent(app, companies[0])
    conv_id = sdk_a.conversations.create_conversation(str(agent_id))["id"]
    stream = sdk_a.messages.send_message(conv_id, "Do you ship abroad?", stream=True, stream_timeout=30)
    assert stream.message_id and stream.task_id
    events = _until_response(stream)
    assert events[0].event == "heartbeat"
    response = events[-1]
    assert response.event == "chat_response", [e.event for e in events]
    assert response.data["message_id"] == stream.message_id and response.data["status"] == "completed"
    assert response.data["message"]["role"] == "assistant" and response.data["conversation_id"] == conv_id
    statuses = [e.data["status"] for e in events if e.event == "chat_status"]
    assert "in_progress" in statuses or "queued" in statuses


def test_stream_framing_replay_and_last_event_id(app, companies, sdk_a, live_server, celery_worker):
    from tests.conftest import make_api_key

    agent_id = make_agent(app, companies[0])
    conv_id = sdk_a.conversations.create_conversation(str(agent_id))["id"]
    ack = sdk_a._make_request("POST", f"/conversation/{conv_id}/chat", data={"message": "Caf\u00e9 \u2028 hours?"})
    _wait_answered(app, ack["message_id"])  # the answer is ready before anyone listens (and nobody read it)

    key, secret = make_api_key(app, companies[0])
    headers = {"X-API-Key": key, "X-API-Secret": secret, "Accept": "text/event-stream"}
    url = f"{live_server}/api/v1/conversation/{conv_id}/messages/stream"
    with requests.get(url, headers=headers, stream=True, timeout=30) as resp:
        assert resp.status_code == 200
        assert resp.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert resp.headers["Cache-Control"] == "no-cache" and resp.headers["X-Accel-Buffering"] == "no"
        raw = b""
        for chunk in resp.iter_content(chunk_size=None):
            raw += chunk
            if b"event: chat_response" in raw and raw.endswith(b"\n\n"):
                break
    text = raw.decode("ascii")  # ASCII only: non-ASCII is escaped inside the JSON
    assert "\r" not in text
    blocks = [b for b in text.split("\n\n") if b]
    parsed = []
    for block in blocks:
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        parsed.append((fields.get("id"), fields["event"], json.loads(fields["data"])))
    assert parsed[0][1] == "heartbeat"
    replayed = [p for p in parsed if p[1] in ("chat_status", "chat_response")]
    assert [p[2]["status"] for p in replayed if p[1] == "chat_status"][0] == "queued"
    assert replayed[-1][1] == "chat_response" and replayed[-1][2]["message_id"] == ack["message_id"]
    assert all(p[0] for p in replayed)  # replayable events carry an id

    # Reconnecting with Last-Event-ID gets only what came after it.
    with requests.get(url, headers={**headers, "Last-Event-ID": replayed[0][0]}, stream=True, timeout=30) as resp:
        raw = b""
        for chunk in resp.iter_content(chunk_size=None):
            raw += chunk
            if b"event: chat_response" in raw and raw.endswith(b"\n\n"):
                break
    ids = [line[4:] for line in raw.decode().split("\n") if line.startswith("id: ")]
    assert replayed[0][0] not in ids and ids[-1] == replayed[-1][0]


def _wait_answered(app, message_id, timeout=60.0):
    """Waits for the answer in the database itself: reading it through the API would count as receiving it."""
    import time

    from sqlalchemy import select

    from knowrithm.domains.conversations.models import Message
    from knowrithm.infra.db import db

    deadline = time.time() + timeout
    with app.app_context():
        while time.time() < deadline:
            found = db.session.execute(select(Message.id).where(Message.reply_to_id == uuid.UUID(message_id))).first()
            db.session.remove()
            if found:
                return
            time.sleep(0.1)
    raise AssertionError("no answer in time")


class _Stream:
    """A raw SSE connection: `events()` yields (event, data) as blocks arrive."""

    def __init__(self, url, headers):
        self.resp = requests.get(url, headers={**headers, "Accept": "text/event-stream"}, stream=True, timeout=30)
        assert self.resp.status_code == 200
        self.chunks = self.resp.iter_content(chunk_size=None)
        self.buffer = ""

    def next_event(self):
        while "\n\n" not in self.buffer:
            self.buffer += next(self.chunks).decode("ascii")
        block, self.buffer = self.buffer.split("\n\n", 1)
        fields = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
        return fields["event"], json.loads(fields["data"])

    def until_response(self):
        seen = []
        while True:
            event, data = self.next_event()
            seen.append((event, data))
            if event == "chat_response":
                return seen

    def close(self):
        self.resp.close()


def test_no_stale_replay_subscribe_then_ask(app, companies, sdk_a, live_server, celery_worker):
    """An answer delivered by one stream is not replayed to the next one (the issue's TS sequence too)."""
    from tests.conftest import make_api_key

    agent_id = make_agent(app, companies[0])
    conv_id = sdk_a.conversations.create_conversation(str(agent_id))["id"]
    key, secret = make_api_key(app, companies[0])
    headers = {"X-API-Key": key, "X-API-Secret": secret}
    url = f"{live_server}/api/v1/conversation/{conv_id}/messages/stream"

    first = _Stream(url, headers)
    assert first.next_event()[0] == "heartbeat"  # subscribed
    ack1 = sdk_a._make_request("POST", f"/conversation/{conv_id}/chat", data={"message": "First question?"})
    events = first.until_response()
    assert events[-1][1]["message_id"] == ack1["message_id"]
    first.close()

    # A new stream, then a second question: the first answer (delivered by the stream) is not replayed.
    second = _Stream(url, headers)
    assert second.next_event()[0] == "heartbeat"
    ack2 = sdk_a._make_request("POST", f"/conversation/{conv_id}/chat", data={"message": "Second question?"})
    events = second.until_response()
    assert {d["message_id"] for _, d in events} == {ack2["message_id"]}, events
    second.close()

    # The answer read through the messages endpoint (TS SDK: polled, read, then subscribed) is not replayed either.
    ack3 = sdk_a._make_request("POST", f"/conversation/{conv_id}/chat", data={"message": "Third question?"})
    _wait_answered(app, ack3["message_id"])
    sdk_a.conversations.list_conversation_messages(conv_id)
    third = _Stream(url, headers)
    assert third.next_event()[0] == "heartbeat"
    ack4 = sdk_a._make_request("POST", f"/conversation/{conv_id}/chat", data={"message": "Fourth question?"})
    events = third.until_response()
    assert {d["message_id"] for _, d in events} == {ack4["message_id"]}, events
    third.close()

    # And so is one whose task result was read (TS `sendMessage(..., {stream: true})` resolves the task first).
    ack5 = sdk_a._make_request("POST", f"/conversation/{conv_id}/chat", data={"message": "Fifth question?"})
    sdk_a.resolve_async_task(ack5)
    fourth = _Stream(url, headers)
    assert fourth.next_event()[0] == "heartbeat"
    ack6 = sdk_a._make_request("POST", f"/conversation/{conv_id}/chat", data={"message": "Sixth question?"})
    events = fourth.until_response()
    assert {d["message_id"] for _, d in events} == {ack6["message_id"]}, events
    fourth.close()


def test_late_subscriber_still_gets_an_unread_answer(app, companies, sdk_a, http, live_server, celery_worker):
    """Ask, then subscribe late: the answer published before the subscription is replayed, once."""
    from tests.conftest import make_api_key

    agent_id = make_agent(app, companies[0])
    conv_id = sdk_a.conversations.create_conversation(str(agent_id))["id"]
    key, secret = make_api_key(app, companies[0])
    headers = {"X-API-Key": key, "X-API-Secret": secret}
    ack = sdk_a._make_request("POST", f"/conversation/{conv_id}/chat", data={"message": "Late question?"})
    _wait_answered(app, ack["message_id"])
    url = f"{live_server}/api/v1/conversation/{conv_id}/messages/stream"
    late = _Stream(url, headers)
    events = late.until_response()
    assert events[0][0] == "heartbeat" and events[-1][1]["message_id"] == ack["message_id"]
    assert events[-1][1]["message"]["role"] == "assistant"
    late.close()
    again = _Stream(url, headers)  # delivered once: the next stream only heartbeats
    assert again.next_event()[0] == "heartbeat"
    ack2 = sdk_a._make_request("POST", f"/conversation/{conv_id}/chat", data={"message": "Next one?"})
    assert {d["message_id"] for _, d in again.until_response()} == {ack2["message_id"]}
    again.close()


def test_stream_heartbeats_disabled_and_capped(app, companies, sdk_a, sdk_b, http):
    from tests.conftest import make_api_key

    settings = app.config["SETTINGS"]
    agent_id = make_agent(app, companies[0])
    conv_id = sdk_a.conversations.create_conversation(str(agent_id))["id"]
    key, secret = make_api_key(app, companies[0])
    headers = {"X-API-Key": key, "X-API-Secret": secret}
    url = f"/api/v1/conversation/{conv_id}/messages/stream"

    assert _status(lambda: sdk_b.messages.stream_conversation_messages(conv_id)) == 404
    old = (settings.SSE_HEARTBEAT_SECONDS, settings.SSE_MAX_STREAMS_PER_COMPANY, settings.STREAMING_ENABLED)
    try:
        settings.SSE_HEARTBEAT_SECONDS = 0.2
        settings.SSE_MAX_STREAMS_PER_COMPANY = 1
        stream = sdk_a.messages.stream_conversation_messages(conv_id, stream_timeout=10)
        beats = []
        for event in stream:
            beats.append(event)
            if len(beats) == 3:
                break
        assert [e.event for e in beats] == ["heartbeat"] * 3 and "timestamp" in beats[1].data
        second = http.get(url, headers=headers, stream=True)
        assert second.status_code == 429 and second.headers["Retry-After"]
        stream.close()

        settings.STREAMING_ENABLED = False
        assert _status(lambda: sdk_a.messages.stream_conversation_messages(conv_id)) == 503
    finally:
        settings.SSE_HEARTBEAT_SECONDS, settings.SSE_MAX_STREAMS_PER_COMPANY, settings.STREAMING_ENABLED = old


def test_lead_tokens_reach_only_their_own_conversations(app, companies, sdk_factory, sdk_a, http, celery_worker):
    agent_id = make_agent(app, companies[0])
    lead_1, h1 = _register(sdk_factory, agent_id, "one@visitors.io")
    lead_2, h2 = _register(sdk_factory, agent_id, "two@visitors.io")
    visitor = sdk_factory()

    conv = visitor.conversations.create_conversation(str(agent_id), title="Website Chat", headers=h1)["conversation"]
    assert conv["entity_type"] == "lead" and conv["entity_id"] == lead_1["lead"]["id"]
    result = visitor.messages.send_message(conv["id"], "Hello there", headers=h1)
    assert result["role"] == "assistant"
    assert len(visitor.conversations.list_conversation_messages(conv["id"], headers=h1)["messages"]) == 2
    mine = visitor.conversations.list_conversations_for_entity(headers=h1)["conversations"]
    assert [c["id"] for c in mine] == [conv["id"]]

    # Another lead of the same company sees nothing of it.
    assert visitor.conversations.list_conversations_for_entity(headers=h2)["conversations"] == []
    assert _status(lambda: visitor.conversations.list_conversation_messages(conv["id"], headers=h2)) == 404
    assert _status(lambda: visitor.messages.send_message(conv["id"], "hi", headers=h2)) == 404
    assert _status(lambda: visitor.messages.stream_conversation_messages(conv["id"], headers=h2)) == 404
    # Lead tokens cannot use staff routes.
    assert _status(lambda: visitor.conversations.list_conversations(headers=h1)) == 403
    assert _status(lambda: visitor.conversations.delete_conversation(conv["id"], headers=h1)) == 403
    # Staff see the lead's conversation; a lead of company B's agent cannot open one with A's agent.
    assert sdk_a.conversations.list_conversations_by_entity(lead_1["lead"]["id"], entity_type="lead")[
        "conversations"][0]["id"] == conv["id"]
    agent_b = make_agent(app, companies[1])
    _, hb = _register(sdk_factory, agent_b, "b@visitors.io")
    assert _status(lambda: visitor.conversations.create_conversation(str(agent_id), headers=hb)) == 404
    assert _status(lambda: visitor.conversations.list_conversation_messages(conv["id"], headers=hb)) == 404

    # A deleted lead's token stops working.
    sdk_a.leads.delete_lead(lead_1["lead"]["id"])
    assert _status(lambda: visitor.conversations.list_conversation_messages(conv["id"], headers=h1)) == 401


def test_feedback_on_assistant_replies(app, companies, sdk_factory, sdk_a, http, celery_worker):
    agent_id = make_agent(app, companies[0])
    lead, headers = _register(sdk_factory, agent_id, "fb@visitors.io")
    _, other = _register(sdk_factory, agent_id, "other@visitors.io")
    conv_id = http.post("/api/v1/conversation", headers=headers, json={"agent_id": str(agent_id)}).json()["id"]
    ack = http.post(f"/api/v1/conversation/{conv_id}/chat", headers=headers, json={"message": "Hi"}).json()
    reply_id = poll_task(http, ack["status_url"])["assistant_message_id"]

    resp = http.post(f"/api/v1/message/{reply_id}/feedback", headers=headers, json={"rating": "down",
                                                                                    "comment": "not helpful"})
    assert resp.status_code == 200 and resp.json()["user_feedback"] == "down"
    msgs = sdk_a.conversations.list_conversation_messages(conv_id)["messages"]
    assert msgs[-1]["user_feedback"] == "down" and msgs[-1]["feedback_comment"] == "not helpful"
    assert http.post(f"/api/v1/message/{reply_id}/feedback", headers=other, json={"rating": "up"}).status_code == 404
    bad = http.post(f"/api/v1/message/{reply_id}/feedback", headers=headers, json={"rating": "meh"})
    assert bad.status_code == 400 and "rating" in bad.json()["details"]
    user_msg = http.post(f"/api/v1/message/{ack['message_id']}/feedback", headers=headers, json={"rating": "up"})
    assert user_msg.status_code == 400
