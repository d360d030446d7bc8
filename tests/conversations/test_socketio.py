"""Socket.IO v4 for the widget, through the real python-socketio client: the client library at
/socket.io/socket.io.js, lead-token auth, rooms limited to the lead's own conversations, and
`chat_status`/`chat_response` published by the Celery worker through Redis."""
from __future__ import annotations

import queue
import uuid

import pytest
import socketio

from tests.widget.helpers import make_agent

TIMEOUT = 60


def _lead(sdk_factory, agent_id, email):
    body = sdk_factory().leads.register_lead({"agent_id": str(agent_id), "first_name": "Vi", "last_name": "Sitor",
                                              "email": email})
    return body["access_token"], {"Authorization": f"Bearer {body['access_token']}"}


class Client:
    """A python-socketio client whose received events land in a queue."""

    def __init__(self, url, token, transports=("websocket", "polling")):
        self.events: queue.Queue = queue.Queue()
        self.sio = socketio.Client(reconnection=False)
        for name in ("conversation_joined", "conversation_error", "chat_status", "chat_response"):
            self.sio.on(name, lambda data, name=name: self.events.put((name, data)))
        self.sio.connect(url, socketio_path="socket.io", transports=list(transports), auth={"token": token},
                         wait_timeout=TIMEOUT)

    def next(self, timeout=TIMEOUT):
        return self.events.get(timeout=timeout)

    def until(self, event, timeout=TIMEOUT):
        seen = []
        while True:
            seen.append(self.next(timeout))
            if seen[-1][0] == event:
                return seen

    def join(self, conversation_id):
        self.sio.emit("join_conversation", {"conversation_id": conversation_id})
        return self.next()

    def close(self):
        self.sio.disconnect()


def test_client_library_is_served(http):
    resp = http.get("/socket.io/socket.io.js")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/javascript")
    assert resp.text.startswith("/*!\n * Socket.IO v4.") and resp.headers["Cross-Origin-Resource-Policy"] == "cross-origin"


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_lead_gets_status_and_answer_over_socketio(app, companies, sdk_factory, http, live_server, celery_worker,
                                                   transport):
    agent_id = make_agent(app, companies[0])
    token, headers = _lead(sdk_factory, agent_id, f"{transport}@visitors.io")
    conv_id = http.post("/api/v1/conversation", json={"agent_id": str(agent_id), "title": "Website Chat"},
                        headers=headers).json()["conversation"]["id"]
    client = Client(live_server, token, transports=(transport,))
    try:
        assert client.sio.transport() == transport
        assert client.join(conv_id) == ("conversation_joined", {"conversation_id": conv_id})
        ack = http.post(f"/api/v1/conversation/{conv_id}/chat", json={"message": "Hello?"}, headers=headers).json()
        events = client.until("chat_response")
        statuses = [d for name, d in events if name == "chat_status"]
        assert statuses and statuses[0]["status"] in ("queued", "in_progress")
        assert all(d["conversation_id"] == conv_id and d["message_id"] == ack["message_id"] for d in statuses)
        response = events[-1][1]
        assert response["conversation_id"] == conv_id and response["status"] == "completed"
        assert response["message_id"] == ack["message_id"] and response["task_id"] == ack["task_id"]
        stored = http.get(f"/api/v1/conversation/{conv_id}/messages", headers=headers).json()["messages"]
        assert response["message"] == stored[-1] and stored[-1]["role"] == "assistant"

        # After leaving, the next answer is not pushed to this client.
        client.sio.emit("leave_conversation", {"conversation_id": conv_id})
        http.post(f"/api/v1/conversation/{conv_id}/chat", json={"message": "Again?"}, headers=headers)
        with pytest.raises(queue.Empty):
            client.next(timeout=3)
    finally:
        client.close()


def test_socket_auth_and_rooms_are_limited_to_the_lead(app, companies, sdk_factory, sdk_a, http, live_server,
                                                       celery_worker):
    agent_id = make_agent(app, companies[0])
    token_1, headers_1 = _lead(sdk_factory, agent_id, "one@visitors.io")
    token_2, _ = _lead(sdk_factory, agent_id, "two@visitors.io")
    agent_b = make_agent(app, companies[1])
    token_b, _ = _lead(sdk_factory, agent_b, "b@visitors.io")
    conv_id = http.post("/api/v1/conversation", json={"agent_id": str(agent_id)},
                        headers=headers_1).json()["conversation"]["id"]

    for bad in (None, "", "not-a-token"):
        with pytest.raises(socketio.exceptions.ConnectionError):
            Client(live_server, bad)

    # Another lead of the same company, and a lead of another company, cannot join it.
    for token in (token_2, token_b):
        other = Client(live_server, token)
        try:
            name, data = other.join(conv_id)
            assert name == "conversation_error" and data["conversation_id"] == conv_id
            name, data = other.join("not-a-uuid")
            assert name == "conversation_error"
            http.post(f"/api/v1/conversation/{conv_id}/chat", json={"message": "Private?"}, headers=headers_1)
            with pytest.raises(queue.Empty):
                other.next(timeout=3)
        finally:
            other.close()

    # A deleted lead's token no longer connects.
    lead_1 = http.get("/api/v1/conversation/entity", headers=headers_1).json()["conversations"][0]["entity_id"]
    sdk_a.leads.delete_lead(lead_1)
    with pytest.raises(socketio.exceptions.ConnectionError):
        Client(live_server, token_1)


def test_staff_token_joins_company_conversations_only(app, companies, sdk_a, http, live_server, celery_worker):
    agent_id = make_agent(app, companies[0])
    conv_id = sdk_a.conversations.create_conversation(str(agent_id))["id"]
    tokens = [http.post("/api/v1/auth/login", json={"email": t.admin_email, "password": t.password}).json()[
        "access_token"] for t in companies]
    mine, other = Client(live_server, tokens[0]), Client(live_server, tokens[1])
    try:
        assert mine.join(conv_id) == ("conversation_joined", {"conversation_id": conv_id})
        assert other.join(conv_id)[0] == "conversation_error"
        assert other.join(str(uuid.uuid4()))[0] == "conversation_error"
    finally:
        mine.close()
        other.close()


def test_events_published_elsewhere_reach_the_socket(app, companies, sdk_factory, http, live_server):
    """What a process without any Socket.IO server emits (the Celery worker, another API node) goes
    through Redis to the node holding the socket."""
    from knowrithm.domains.conversations.realtime import room
    from knowrithm.infra import realtime

    agent_id = make_agent(app, companies[0])
    token, headers = _lead(sdk_factory, agent_id, "remote@visitors.io")
    conv_id = http.post("/api/v1/conversation", json={"agent_id": str(agent_id)},
                        headers=headers).json()["conversation"]["id"]
    client = Client(live_server, token)
    try:
        assert client.join(conv_id)[0] == "conversation_joined"
        emitter = socketio.RedisManager(app.config["SETTINGS"].redis_url, write_only=True,
                                        channel=realtime.channel_for(app.config["SETTINGS"].redis_url))
        emitter.emit("chat_status", {"conversation_id": conv_id, "message_id": "m", "status": "in_progress"},
                     room=room(conv_id), namespace="/")
        assert client.next() == ("chat_status", {"conversation_id": conv_id, "message_id": "m",
                                                 "status": "in_progress"})
    finally:
        client.close()


def test_an_answer_received_over_socketio_is_not_replayed_by_a_later_stream(app, companies, sdk_factory, http,
                                                                           live_server, celery_worker):
    """The widget may get an answer over Socket.IO and open the SSE stream later (a reload, a
    fallback): the answer it already has must not arrive a second time. A staff socket watching
    the same conversation does not count as the visitor receiving it."""
    import time

    import redis
    import requests

    from knowrithm.infra.streaming import SEEN_PREFIX
    from tests.conversations.test_chat import _Stream

    agent_id = make_agent(app, companies[0])
    token, headers = _lead(sdk_factory, agent_id, "reload@visitors.io")
    conv_id = http.post("/api/v1/conversation", json={"agent_id": str(agent_id)}, headers=headers).json()["id"]
    staff_token = requests.post(f"{live_server}/api/v1/auth/login", timeout=30, json={
        "email": companies[0].admin_email, "password": companies[0].password}).json()["access_token"]
    seen = redis.Redis.from_url(app.config["SETTINGS"].redis_url)

    def asked_and_answered(client, question):
        ack = http.post(f"/api/v1/conversation/{conv_id}/chat", json={"message": question}, headers=headers).json()
        assert client.until("chat_response")[-1][1]["message_id"] == ack["message_id"]
        return ack["message_id"]

    staff = Client(live_server, staff_token)
    try:
        assert staff.join(conv_id)[0] == "conversation_joined"
        watched = asked_and_answered(staff, "Only staff is watching?")
        time.sleep(1)
        assert not seen.sismember(SEEN_PREFIX + conv_id, watched)  # staff watching is not the visitor receiving
        visitor = Client(live_server, token)
        try:
            assert visitor.join(conv_id)[0] == "conversation_joined"
            received = asked_and_answered(visitor, "Does the visitor get it?")
        finally:
            visitor.close()
    finally:
        staff.close()
    deadline = time.time() + 10
    while not seen.sismember(SEEN_PREFIX + conv_id, received) and time.time() < deadline:
        time.sleep(0.1)
    assert seen.sismember(SEEN_PREFIX + conv_id, received)

    stream = _Stream(f"{live_server}/api/v1/conversation/{conv_id}/messages/stream", headers)
    try:
        assert stream.next_event()[0] == "heartbeat"
        replayed = []
        ack = http.post(f"/api/v1/conversation/{conv_id}/chat", json={"message": "And now?"}, headers=headers).json()
        while ack["message_id"] not in replayed:
            event, data = stream.next_event()
            if event == "chat_response":
                replayed.append(data["message_id"])
        # The answer only staff watched is replayed to the visitor, then the new one; never the one it has.
        assert replayed == [watched, ack["message_id"]], replayed
    finally:
        stream.close()
