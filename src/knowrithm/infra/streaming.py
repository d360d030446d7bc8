"""Server-Sent Events over Redis pub/sub (docs/api-compatibility.md, "Streaming").

Workers `publish()` an event for a topic (a conversation id). Every API process runs one
`Hub` thread with a single pattern subscription and fans events out to the streams it
serves, so any process can serve any stream and an idle stream costs a queue, not a Redis
connection. Each topic also keeps its recent events in a capped Redis stream: a client
that connects just after the chat acknowledgement still gets an answer that was ready
first (`replay`), unless the participant already received that answer (`mark_seen`).

Framing follows both SDK parsers: LF line endings only, one `data:` line of ASCII JSON
(Python's `splitlines()` also splits on U+2028), and a blank line after each event.
"""
from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Iterable, Iterator

import redis

from .metrics import SSE_OPEN

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "knowrithm:events:"
LOG_PREFIX = "knowrithm:events-log:"
SLOTS_PREFIX = "knowrithm:sse-slots:"
SEEN_PREFIX = "knowrithm:events-seen:"
LOG_MAXLEN = 200
LOG_TTL_SECONDS = 3600
ACK_REPLAY_MS = 60_000
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}
SSE_MIMETYPE = "text/event-stream; charset=utf-8"
# When a server process drains (SIGTERM), each open stream gets this reconnect delay in a last
# event and is closed: the client comes back to another process (Last-Event-ID resumes it).
DRAIN_RETRY_MS = 1000
_DRAIN = {"drain": True}  # the sentinel a draining process puts in every stream's queue
_draining = threading.Event()


def encode(event: str, data, event_id: str | None = None, retry_ms: int | None = None) -> str:
    """One SSE block: `id:`, `event:`, a single ASCII `data:` line, then a blank line."""
    payload = json.dumps(data, ensure_ascii=True, separators=(",", ":"), default=str)
    lines = []
    if event_id:
        lines.append(f"id: {event_id}")
    if retry_ms:
        lines.append(f"retry: {int(retry_ms)}")
    lines.append(f"event: {event}")
    lines.append(f"data: {payload}")
    return "\n".join(lines) + "\n\n"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def _id_key(event_id: str | None) -> tuple[int, int]:
    try:
        ms, _, seq = (event_id or "").partition("-")
        return int(ms), int(seq or 0)
    except ValueError:
        return 0, 0


# --- publishing --------------------------------------------------------------------------

# Log the event and publish it in one round trip (it runs up to four times per chat answer). The
# published envelope is the JSON object {"id", "event", "data"}; its tail is encoded by the caller.
_PUBLISH_LOGGED = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'event', ARGV[2], 'data', ARGV[3],
                      'key', ARGV[4], 'ack', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('PUBLISH', KEYS[2], '{"id":"' .. id .. '",' .. ARGV[7])
return id
"""
_script = None


def _publish_logged(client: redis.Redis):
    global _script
    if _script is None:  # only hashes the source; the first EVALSHA per server falls back to EVAL
        _script = client.register_script(_PUBLISH_LOGGED)
    return _script


def publish(client: redis.Redis, topic: str, event: str, data: dict, *, key: str | None = None,
            acknowledged_ms: int | None = None, replayable: bool = True) -> str | None:
    """Send `event` to every stream of `topic`; replayable events are also logged for late joiners.

    `key` groups the events of one exchange (the user message id) and `acknowledged_ms` is when
    that exchange was acknowledged; replay uses both."""
    event_id = None
    body = json.dumps(data, ensure_ascii=True, separators=(",", ":"), default=str)
    try:
        if replayable:
            tail = '"event":' + json.dumps(event) + ',"data":' + json.dumps(body) + "}"
            event_id = _publish_logged(client)(
                keys=[LOG_PREFIX + topic, CHANNEL_PREFIX + topic],
                args=[LOG_MAXLEN, event, body, key or "", str(acknowledged_ms or int(time.time() * 1000)),
                      LOG_TTL_SECONDS, tail], client=client)
        else:
            client.publish(CHANNEL_PREFIX + topic, json.dumps({"id": None, "event": event, "data": body}))
    except redis.RedisError:
        # The answer is already saved; a stream that misses it still finds it by polling.
        log.warning("could not publish %s for %s", event, topic, exc_info=True)
    return event_id


def mark_seen(client: redis.Redis, topic: str, keys: Iterable[str]) -> None:
    """The participant has received the answers of these exchanges (by a stream, by reading the
    messages or the task result): a later stream must not replay them."""
    keys = [str(k) for k in keys if k]
    if not keys:
        return
    try:
        pipe = client.pipeline(transaction=False)
        pipe.sadd(SEEN_PREFIX + topic, *keys)
        pipe.expire(SEEN_PREFIX + topic, LOG_TTL_SECONDS)
        pipe.execute()
    except redis.RedisError:
        log.warning("could not record delivered answers for %s", topic, exc_info=True)


def replay(client: redis.Redis, topic: str, last_event_id: str | None) -> list[tuple[str, str, str, str]]:
    """Logged events a (re)connecting client should get first, as (id, event, json data, key).

    With `Last-Event-ID`: everything after it. Without: the events of the most recent exchange
    acknowledged in the last minute whose answer the participant has not received yet, so an
    answer ready before the subscription is not lost and a client that stops at the first
    `chat_response` is never handed an answer it already has."""
    log_key = LOG_PREFIX + topic
    try:
        if last_event_id:
            entries = client.xrange(log_key, min=last_event_id, max="+")
            return [(eid, f["event"], f["data"], f.get("key") or "") for eid, f in entries if eid != last_event_id]
        now_ms = int(time.time() * 1000)
        entries = client.xrange(log_key, min=str(now_ms - ACK_REPLAY_MS), max="+")
        seen = client.smembers(SEEN_PREFIX + topic) if entries else set()
    except redis.RedisError:
        log.warning("could not replay events for %s", topic, exc_info=True)
        return []
    recent = [(eid, f) for eid, f in entries
              if f.get("key") and f["key"] not in seen and int(f.get("ack") or 0) >= now_ms - ACK_REPLAY_MS]
    if not recent:
        return []
    newest = max(recent, key=lambda item: int(item[1]["ack"]))[1]["key"]
    return [(eid, f["event"], f["data"], f["key"]) for eid, f in recent if f["key"] == newest]


def _answer_key(event: str, data_json: str) -> str | None:
    """The exchange a `chat_response` answers (its user message id)."""
    if event != "chat_response":
        return None
    try:
        return json.loads(data_json).get("message_id")
    except (ValueError, AttributeError):
        return None


# --- one subscriber per process ------------------------------------------------------------

class Hub:
    """A daemon thread holding one pattern subscription; streams register a queue per topic."""

    SLOT_REFRESH_SECONDS = 10.0

    def __init__(self, url: str):
        self.url = url
        self._subs: dict[str, set[queue.Queue]] = {}
        self._slots: dict[str, set[str]] = {}  # company_id -> stream slots held by this process
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()

    def subscribe(self, topic: str) -> queue.Queue:
        q: queue.Queue = queue.Queue(maxsize=1000)
        with self._lock:
            self._subs.setdefault(topic, set()).add(q)
            if self._thread is None or not self._thread.is_alive():
                self.ready.clear()
                self._thread = threading.Thread(target=self._run, name="knowrithm-sse-hub", daemon=True)
                self._thread.start()
        # Events published before the subscription is live would be lost; replay covers the gap.
        self.ready.wait(timeout=2)
        return q

    def unsubscribe(self, topic: str, q: queue.Queue) -> None:
        with self._lock:
            subs = self._subs.get(topic)
            if subs is not None:
                subs.discard(q)
                if not subs:
                    del self._subs[topic]

    def hold_slot(self, company_id: str, slot: str) -> None:
        with self._lock:
            self._slots.setdefault(company_id, set()).add(slot)

    def drop_slot(self, company_id: str, slot: str) -> None:
        with self._lock:
            held = self._slots.get(company_id)
            if held is not None:
                held.discard(slot)
                if not held:
                    del self._slots[company_id]

    def _refresh_slots(self, client: redis.Redis) -> None:
        """One pipeline per interval keeps every local stream's slot fresh (heartbeats stay off Redis)."""
        with self._lock:
            held = {c: list(s) for c, s in self._slots.items()}
        if not held:
            return
        now = time.time()
        pipe = client.pipeline(transaction=False)
        for company_id, slots in held.items():
            pipe.zadd(SLOTS_PREFIX + company_id, {slot: now for slot in slots}, xx=True)
        pipe.execute()

    def drain(self) -> None:
        """Wakes every stream of this process so it can say goodbye (see `drain_streams`)."""
        with self._lock:
            targets = [q for subs in self._subs.values() for q in subs]
        for q in targets:
            try:
                q.put_nowait(_DRAIN)
            except queue.Full:  # a stalled stream notices the flag at its next heartbeat
                pass

    def open_streams(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._subs.values())

    def _run(self) -> None:
        while True:
            try:
                client = redis.Redis.from_url(self.url, decode_responses=True, socket_connect_timeout=2,
                                              health_check_interval=30)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(CHANNEL_PREFIX + "*")
                next_refresh = time.monotonic() + self.SLOT_REFRESH_SECONDS
                while True:
                    message = pubsub.get_message(timeout=1.0)
                    if time.monotonic() >= next_refresh:
                        self._refresh_slots(client)
                        next_refresh = time.monotonic() + self.SLOT_REFRESH_SECONDS
                    if not self.ready.is_set() and pubsub.subscribed:
                        self.ready.set()
                    if message and message.get("type") == "pmessage":
                        self._dispatch(message["channel"][len(CHANNEL_PREFIX):], message["data"])
            except Exception:  # noqa: BLE001 - reconnect on any broker trouble; streams keep heartbeating
                log.warning("SSE hub lost its Redis subscription; reconnecting", exc_info=True)
                self.ready.clear()
                time.sleep(1)

    def _dispatch(self, topic: str, raw: str) -> None:
        with self._lock:
            targets = list(self._subs.get(topic, ()))
        if not targets:
            return
        try:
            item = json.loads(raw)
        except ValueError:
            return
        for q in targets:
            try:
                q.put_nowait(item)
            except queue.Full:  # a stalled client must not hold the hub back
                pass


_hubs: dict[str, Hub] = {}
_hubs_lock = threading.Lock()


def hub_for(url: str) -> Hub:
    with _hubs_lock:
        if url not in _hubs:
            _hubs[url] = Hub(url)
        return _hubs[url]


def drain_streams() -> None:
    """Called once when the server process shuts down: every open stream ends with a `retry:`
    hint, and new ones close at once, so a graceful stop never waits for idle streams."""
    _draining.set()
    with _hubs_lock:
        hubs = list(_hubs.values())
    for hub in hubs:
        hub.drain()


def draining() -> bool:
    return _draining.is_set()


def _goodbye() -> str:
    return encode("heartbeat", {"timestamp": now_iso(), "status": "reconnect"}, retry_ms=DRAIN_RETRY_MS)


# --- per-company stream slots --------------------------------------------------------------

def acquire_slot(client: redis.Redis, company_id: str, cap: int, stale_after: float) -> str | None:
    """Reserve one of the company's `cap` concurrent streams; None when all are taken.

    The process's hub refreshes its slots every few seconds, so a process that died without
    releasing its slots frees them after `stale_after` seconds."""
    key = SLOTS_PREFIX + company_id
    slot = uuid.uuid4().hex
    now = time.time()
    pipe = client.pipeline()
    pipe.zremrangebyscore(key, 0, now - stale_after)
    pipe.zadd(key, {slot: now})
    pipe.zcard(key)
    pipe.expire(key, int(stale_after) + 60)
    count = pipe.execute()[2]
    if count > cap:
        client.zrem(key, slot)
        return None
    return slot


def release_slot(client: redis.Redis, company_id: str, slot: str) -> None:
    try:
        client.zrem(SLOTS_PREFIX + company_id, slot)
    except redis.RedisError:
        pass


# --- the stream itself ----------------------------------------------------------------------

def event_stream(*, hub: Hub, client: redis.Redis, topic: str, company_id: str, slot: str,
                 last_event_id: str | None, heartbeat_seconds: float,
                 hello: dict | None = None, participant: bool = True) -> Iterator[str]:
    """The SSE body: a first event at once, replayed events, then live events and heartbeats.

    A `participant` stream (the conversation's own user or lead) records each answer it
    delivers, so no later stream replays it. Holds no database session: everything it needs
    was loaded before the response started."""
    q = hub.subscribe(topic)
    hub.hold_slot(company_id, slot)
    SSE_OPEN.inc()
    try:
        yield encode("heartbeat", {"timestamp": now_iso(), "status": "connected", **(hello or {})},
                     retry_ms=3000)
        last = (0, 0)
        for event_id, event, data, key in replay(client, topic, last_event_id):
            last = max(last, _id_key(event_id))
            yield _raw(event_id, event, data)
            if participant and event == "chat_response":
                mark_seen(client, topic, [key])
        while not _draining.is_set():
            try:
                item = q.get(timeout=heartbeat_seconds)
            except queue.Empty:
                yield encode("heartbeat", {"timestamp": now_iso()})
                continue
            if item is _DRAIN:
                break
            event_id = item.get("id")
            if event_id and _id_key(event_id) <= last:
                continue  # already sent by the replay
            yield _raw(event_id, item["event"], item["data"])
            if participant:
                mark_seen(client, topic, [_answer_key(item["event"], item["data"])])
        yield _goodbye()
    finally:
        SSE_OPEN.dec()
        hub.unsubscribe(topic, q)
        hub.drop_slot(company_id, slot)
        release_slot(client, company_id, slot)


def _raw(event_id: str | None, event: str, data_json: str) -> str:
    # Published payloads are already single-line ASCII JSON.
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {data_json}\n\n"


def iter_chunks(blocks: Iterable[str]) -> Iterator[bytes]:
    for block in blocks:
        yield block.encode("ascii")
