"""Give back the messages a killed worker had taken from the Redis broker.

Tasks are acknowledged late (after they finish), so a worker killed mid-task leaves its message
in kombu's `unacked` hash, where Redis returns it to the queue only after the visibility timeout
(an hour, so long tasks are not redelivered while they still run). When the killed worker was
the only consumer of its queues, as in `knowrithm up` on its embedded Redis, nothing else can
hold those messages, and they are put back at once. (RabbitMQ needs none of this: it requeues a
consumer's unacknowledged messages as soon as its connection drops.)
"""
from __future__ import annotations

import logging

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
