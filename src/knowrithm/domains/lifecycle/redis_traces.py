"""Removing a subject's entries from Redis: caches, event streams, rate-limit counters and the
buffered API request log.

Platform keys name what they belong to by id or email (`knowrithm:events-log:<conversation>`,
`knowrithm:rl:apikey:<key>:...`, `knowrithm:rl:login:<email>:...`, `knowrithm:sse-slots:<company>`),
so a key goes when any UUID or email in its name is one of the subject's. The request-log
buffer is a list of records naming the company, key, user and lead; matching records are dropped
(erasure flushes the buffer first, so this only catches requests that arrived meanwhile).
"""
from __future__ import annotations

import json
import logging
import re

import redis

from knowrithm.domains.auth.request_log import BUFFER_KEY
from knowrithm.infra.redis import get_redis

log = logging.getLogger(__name__)

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+")


def _names(text: str) -> set[str]:
    return {m.lower() for m in _UUID.findall(text)} | {m.lower() for m in _EMAIL.findall(text)}


def scrub(markers: set[str]) -> int:
    """Deletes platform keys naming any of `markers` (ids, emails); returns how many entries went."""
    markers = {m.lower() for m in markers if m}
    if not markers:
        return 0
    removed = 0
    try:
        r = get_redis()
        doomed = [key for key in r.scan_iter("knowrithm:*", count=1000)
                  if _names(key.decode() if isinstance(key, bytes) else key) & markers]
        for start in range(0, len(doomed), 500):
            removed += r.delete(*doomed[start:start + 500])
        removed += _scrub_request_log_buffer(r, markers)
    except redis.RedisError:
        # Redis holds only short-lived entries (they expire on their own); the rows are gone already.
        log.warning("could not scrub Redis entries of an erased subject", exc_info=True)
    return removed


def _scrub_request_log_buffer(r: redis.Redis, markers: set[str]) -> int:
    removed = 0
    for item in r.lrange(BUFFER_KEY, 0, -1):
        try:
            names = {str(v).lower() for v in json.loads(item) if isinstance(v, str)}
        except (ValueError, TypeError):
            continue
        if names & markers:
            removed += r.lrem(BUFFER_KEY, 0, item)
    return removed
