"""Give back the messages a killed worker had taken from the Redis broker.

Tasks are acknowledged late (after they finish), so a worker killed mid-task leaves its message
in kombu's `unacked` hash, where Redis returns it to the queue only after the visibility timeout
(70 minutes, so long tasks are not redelivered while they still run). Two ways back, sooner:

- `restore_unacked`: when the killed worker was the only consumer of its queues, as in
  `knowrithm up` on its embedded Redis, nothing else can hold those messages: all go back.
- `requeue_orphans`: every worker notes the delivery tags it holds under its node name
  (`note_received`/`note_done`). A worker that starts under a name with notes left (a container
  or pod restarted in place) gives back its previous life's messages at once; beat gives back
  those of a node whose heartbeat stopped (a node that is gone), every minute.

RabbitMQ needs none of this: it requeues a consumer's unacknowledged messages as soon as its
connection drops.
"""
from __future__ import annotations

import logging
import time

from kombu import Connection
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

log = logging.getLogger(__name__)


def restore_unacked(broker_url: str, queues: set[str]) -> int:
    """Requeue (at the front) every unacknowledged message routed to one of `queues`; returns how many."""
    if not broker_url.startswith(("redis://", "rediss://", "unix://")):
        return 0
    restored = 0
    with Connection(broker_url) as conn:
        channel = conn.default_channel
        with channel.conn_or_acquire() as client:
            held = client.hgetall(channel.unacked_key)
        for tag, raw in held.items():
            try:
                _message, _exchange, routing_key = loads(bytes_to_str(raw))
            except (ValueError, TypeError):
                continue
            if routing_key in queues:
                channel.qos.restore_by_tag(bytes_to_str(tag))
                restored += 1
    if restored:
        log.warning("requeued %d message(s) of a stopped worker (queues %s)", restored, ",".join(sorted(queues)))
    return restored


INFLIGHT_PREFIX = "knowrithm:inflight:"


def is_redis_broker(broker_url: str | None) -> bool:
    return str(broker_url or "").startswith(("redis://", "rediss://", "unix://"))


def note_received(client, worker: str, task_id: str | None, tag: str | None) -> None:
    """Noted by task id (what the pool process knows when the task ends), with the message's
    delivery tag (what the broker knows it by) and the time."""
    if task_id and tag:
        client.hset(INFLIGHT_PREFIX + worker, task_id, f"{tag} {time.time():.0f}")


def note_done(client, worker: str, task_id: str | None) -> None:
    if task_id:
        client.hdel(INFLIGHT_PREFIX + worker, task_id)


def requeue_orphans(broker_url: str, client, *, workers: list[str] | None = None,
                    live: set[str] = frozenset(), noted_before: float | None = None) -> dict[str, int]:
    """Requeue what `workers` (default: every node with notes, but those in `live`) still held,
    among the messages noted before `noted_before` (default: all); returns {node: messages given
    back}. A tag no longer held (acknowledged, or given back by the visibility timeout) is
    skipped; the notes handled are removed either way."""
    if not is_redis_broker(broker_url):
        return {}
    if workers is None:
        workers = [bytes_to_str(k)[len(INFLIGHT_PREFIX):] for k in client.scan_iter(INFLIGHT_PREFIX + "*")]
    out = {}
    with Connection(broker_url) as conn:
        channel = conn.default_channel
        for worker in (w for w in workers if w not in live):
            notes = {}
            for task_id, value in client.hgetall(INFLIGHT_PREFIX + worker).items():
                tag, _, at = bytes_to_str(value).partition(" ")
                if noted_before is None or float(at or 0) < noted_before:
                    notes[bytes_to_str(task_id)] = tag
            if not notes:
                continue
            with channel.conn_or_acquire() as broker:
                held = [t for t in notes.values() if broker.hexists(channel.unacked_key, t)]
            for tag in held:
                channel.qos.restore_by_tag(tag)
            client.hdel(INFLIGHT_PREFIX + worker, *notes)
            out[worker] = len(held)
            if held:
                log.warning("requeued %d message(s) held by stopped worker %s", len(held), worker)
    return out
