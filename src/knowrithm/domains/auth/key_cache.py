"""Credential lookups in one Redis round trip: API keys (with per-key limits) and JWT users.

Every API-key request needs the key's row (scopes, hashes, owner status) and its hourly
and daily counters; every JWT request needs the token's revocation state and its user's
status. Rows are cached in process memory; a cluster-wide generation number in Redis,
bumped after any commit that changes a key or a user, tells each process when its copies
are stale. The generation is read in the same pipeline that counts the request (or checks
the token's revocation), so a warm request costs one Redis round trip and no database
query, and a revocation, suspension or password change takes effect on the next request
in every process. Code that changes keys or users with bulk statements calls `invalidate()`.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime

import redis
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from knowrithm.infra.db import db
from knowrithm.infra.errors import RateLimited, Unavailable
from knowrithm.infra.redis import get_redis

from .models import ApiKey, User

GENERATION_KEY = "knowrithm:apikeys:generation"
COUNTER_PREFIX = "knowrithm:rl:apikey:"
MAX_AGE = 300.0  # safety net: reload even without a generation bump
MAX_ENTRIES = 10_000

_cache: dict[str, "KeyEntry"] = {}
_users: dict[uuid.UUID, "UserEntry"] = {}


@dataclass(frozen=True)
class KeyEntry:
    id: uuid.UUID
    company_id: uuid.UUID
    user_id: uuid.UUID
    name: str
    key_prefix: str
    secret_hash: str
    scopes: frozenset[str]
    status: str
    revoked: bool
    expires_at: datetime | None
    rate_limit_per_hour: int
    rate_limit_per_day: int
    role: str
    user_status: str
    user_deleted: bool
    locked_until: datetime | None
    generation: str | None
    loaded_at: float


def _load(key: str, generation: str | None) -> KeyEntry | None:
    row = db.session.execute(
        select(ApiKey, User).join(User, User.id == ApiKey.user_id).where(ApiKey.key == key)
        .execution_options(all_companies=True, include_deleted=True)
    ).first()
    if row is None:
        return None
    k, u = row
    return KeyEntry(id=k.id, company_id=k.company_id, user_id=u.id, name=k.name, key_prefix=k.key_prefix,
                    secret_hash=k.secret_hash, scopes=frozenset(k.scopes or []), status=k.status,
                    revoked=k.revoked_at is not None, expires_at=k.expires_at,
                    rate_limit_per_hour=k.rate_limit_per_hour, rate_limit_per_day=k.rate_limit_per_day,
                    role=u.role, user_status=u.status, user_deleted=u.deleted_at is not None,
                    locked_until=u.locked_until, generation=generation, loaded_at=time.monotonic())


@dataclass(frozen=True)
class UserEntry:
    """The fields of a user that decide whether its token may act (same names as `User`)."""

    id: uuid.UUID
    company_id: uuid.UUID | None
    role: str
    status: str
    deleted_at: datetime | None
    locked_until: datetime | None
    password_changed_at: datetime | None
    generation: str | None
    loaded_at: float


def token_user(payload: dict, revocation_keys: list[str]) -> tuple[UserEntry | None, bool]:
    """(the token's user or None, whether the token is revoked) — one Redis round trip when warm."""
    try:
        user_id = uuid.UUID(str(payload["sub"]))
    except (KeyError, ValueError):
        return None, False
    pipe = get_redis().pipeline(transaction=False)
    pipe.exists(*revocation_keys)
    pipe.get(GENERATION_KEY)
    try:
        revoked_count, generation = pipe.execute()
    except redis.RedisError:
        # Unlike rate limits this cannot fail open: a logged-out token would work again.
        raise Unavailable("Authentication is temporarily unavailable; retry shortly", code="AUTH_UNAVAILABLE",
                          headers={"Retry-After": "5"}) from None
    if revoked_count:
        return None, True
    cached = _users.get(user_id)
    if cached is not None and cached.generation == generation and time.monotonic() - cached.loaded_at < MAX_AGE:
        return cached, False
    row = db.session.execute(
        select(User.id, User.company_id, User.role, User.status, User.deleted_at, User.locked_until,
               User.password_changed_at).where(User.id == user_id).execution_options(include_deleted=True)
    ).first()
    if row is None:
        _users.pop(user_id, None)
        return None, False
    entry = UserEntry(*row, generation=generation, loaded_at=time.monotonic())
    if len(_users) >= MAX_ENTRIES:
        _users.clear()
    _users[user_id] = entry
    return entry, False


def _windows(now: float) -> tuple[str, int, str, int]:
    hour, day = int(now // 3600), int(now // 86400)
    return f"h{hour}", (hour + 1) * 3600, f"d{day}", (day + 1) * 86400


def _count(pipe, key_id: uuid.UUID, now: float) -> None:
    h, _, d, _ = _windows(now)
    pipe.incr(f"{COUNTER_PREFIX}{key_id}:{h}")
    pipe.expire(f"{COUNTER_PREFIX}{key_id}:{h}", 3700)
    pipe.incr(f"{COUNTER_PREFIX}{key_id}:{d}")
    pipe.expire(f"{COUNTER_PREFIX}{key_id}:{d}", 86500)


def lookup(key: str) -> KeyEntry | None:
    """The key's entry, fresh as of this request; also counts the request against its limits.

    The counts land on `g.api_key_usage` as (hourly, daily) for `enforce_limits`.
    """
    from flask import g

    now = time.time()
    cached = _cache.get(key)
    pipe = get_redis().pipeline(transaction=False)
    pipe.get(GENERATION_KEY)
    if cached is not None:
        _count(pipe, cached.id, now)
    try:
        results = pipe.execute()
    except redis.RedisError:
        results = None  # fail open on limits; the database still decides validity
    generation = results[0] if results else None
    fresh = (cached is not None and results is not None and cached.generation == generation
             and time.monotonic() - cached.loaded_at < MAX_AGE)
    if fresh:
        g.api_key_usage = (int(results[1]), int(results[3]))
        return cached
    entry = _load(key, generation)
    if entry is None:
        _cache.pop(key, None)
        return None
    if len(_cache) >= MAX_ENTRIES:
        _cache.clear()
    _cache[key] = entry
    if cached is not None and cached.id == entry.id and results is not None:
        g.api_key_usage = (int(results[1]), int(results[3]))
    else:
        try:
            pipe = get_redis().pipeline(transaction=False)
            _count(pipe, entry.id, now)
            counted = pipe.execute()
            g.api_key_usage = (int(counted[0]), int(counted[2]))
        except redis.RedisError:
            g.api_key_usage = None
    return entry


def enforce_limits(entry: KeyEntry) -> None:
    """429 + Retry-After when the key is over its hourly or daily ceiling."""
    from flask import current_app, g

    usage = g.get("api_key_usage")
    if not usage or not getattr(current_app.config["SETTINGS"], "RATELIMIT_ENABLED", True):
        return
    hourly, daily = usage
    now = time.time()
    _, hour_end, _, day_end = _windows(now)
    if daily > entry.rate_limit_per_day:
        retry, which = day_end - now, "daily"
    elif hourly > entry.rate_limit_per_hour:
        retry, which = hour_end - now, "hourly"
    else:
        return
    retry_after = max(1, int(retry) + 1)
    raise RateLimited(f"API key {which} request limit reached; retry in {retry_after} seconds",
                      code="API_KEY_RATE_LIMITED", headers={"Retry-After": str(retry_after)},
                      details={"hourly_limit": entry.rate_limit_per_hour, "daily_limit": entry.rate_limit_per_day,
                               "hourly_requests": hourly, "daily_requests": daily})


def current_usage(key_id: uuid.UUID) -> tuple[int, int]:
    """(requests this hour, requests today) without counting a request."""
    h, _, d, _ = _windows(time.time())
    try:
        hourly, daily = get_redis().mget(f"{COUNTER_PREFIX}{key_id}:{h}", f"{COUNTER_PREFIX}{key_id}:{d}")
    except redis.RedisError:
        return 0, 0
    return int(hourly or 0), int(daily or 0)


def bump_generation() -> None:
    try:
        get_redis().incr(GENERATION_KEY)
    except (redis.RedisError, RuntimeError):
        _cache.clear()  # no Redis (or no app): at least this process stops trusting its copies
        _users.clear()


# Any ORM change to a key or a user (revocation, suspension, role change, lockout,
# deletion) makes every process reload its cached keys after the commit.
def _mark(mapper, connection, target) -> None:
    session = Session.object_session(target)
    if session is not None:
        session.info["knowrithm_keys_changed"] = True


for _model in (ApiKey, User):
    for _evt in ("after_update", "after_delete"):
        event.listen(_model, _evt, _mark)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop("knowrithm_keys_changed", False):
        bump_generation()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop("knowrithm_keys_changed", None)


def invalidate() -> None:
    """For code that changes keys or users with bulk UPDATE statements (no ORM events)."""
    bump_generation()
