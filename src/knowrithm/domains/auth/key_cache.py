"""Credential lookups in one Redis round trip: API keys (with per-key limits) and JWT users.

Every API-key request needs the key's row (scopes, hashes, owner status) and its hourly
and daily counters; every JWT request needs the token's revocation state and its user's
status. Rows are cached in process memory; a cluster-wide generation number in Redis,
bumped after any commit that changes a key or a user, tells each process when its copies
are stale. The generation is read by the same Redis command that counts the request (a
small Lua script) or checks the token's revocation (one MGET), so a warm request costs one
round trip and no database query, and a revocation, suspension or password change takes
effect on the next request in every process. Only changes to the fields cached here bump
the generation: a login (which writes `last_login`) must not send every process back to
the database. Code that changes keys or users with bulk statements calls `invalidate()`.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime

import redis
from redis.commands.core import Script
from sqlalchemy import or_, select

from knowrithm.domains.companies.models import Company
from knowrithm.infra import read_cache
from knowrithm.infra.db import after_committed_change, db
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
    company_suspended: bool
    generation: str | None
    loaded_at: float


def _load(key: str, generation: str | None) -> KeyEntry | None:
    row = db.session.execute(
        select(ApiKey, User, suspended_company(User.company_id)).join(User, User.id == ApiKey.user_id)
        .where(ApiKey.key == key).execution_options(all_companies=True, include_deleted=True)
    ).first()
    if row is None:
        return None
    k, u, company_suspended = row
    return KeyEntry(id=k.id, company_id=k.company_id, user_id=u.id, name=k.name, key_prefix=k.key_prefix,
                    secret_hash=k.secret_hash, scopes=frozenset(k.scopes or []), status=k.status,
                    revoked=k.revoked_at is not None, expires_at=k.expires_at,
                    rate_limit_per_hour=k.rate_limit_per_hour, rate_limit_per_day=k.rate_limit_per_day,
                    role=u.role, user_status=u.status, user_deleted=u.deleted_at is not None,
                    locked_until=u.locked_until, company_suspended=bool(company_suspended), generation=generation,
                    loaded_at=time.monotonic())


def suspended_company(company_id_column):
    """A scalar subquery: whether the user's company is suspended (super admin action)."""
    return (select(or_(Company.status == "suspended", Company.is_active.is_(False)))
            .where(Company.id == company_id_column).scalar_subquery())


def company_is_suspended(company_id) -> bool:
    return bool(company_id and db.session.execute(select(suspended_company(company_id))).scalar())


_COMPANY_SUSPENDED = read_cache.ReadCache("auth.company_suspended", [Company])


def lead_token_state(payload: dict, revocation_keys: list[str]) -> tuple[bool, bool]:
    """(revoked, company suspended) for a visitor's token: one Redis round trip (revocation, and
    the read cache's snapshot), then the company's state from memory while no company changed;
    so a stream open still takes no database connection."""
    try:
        fields = read_cache.snapshot_fields()
        pipe = get_redis().pipeline(transaction=False)
        pipe.exists(*revocation_keys)
        pipe.hmget(read_cache.TABLEGEN_KEY, *fields)
        revoked, tablegen = pipe.execute()
        read_cache.remember_snapshot(fields, tablegen)
    except redis.RedisError:
        raise Unavailable("Authentication is temporarily unavailable; retry shortly", code="AUTH_UNAVAILABLE",
                          headers={"Retry-After": "5"}) from None
    if revoked:
        return True, False
    company_id = str(payload["company_id"])
    return False, _COMPANY_SUSPENDED.get(company_id, lambda: company_is_suspended(company_id))


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
    company_suspended: bool | None
    generation: str | None
    loaded_at: float


def token_user(payload: dict, revocation_keys: list[str]) -> tuple[UserEntry | None, bool]:
    """(the token's user or None, whether the token is revoked) — one Redis round trip when warm."""
    try:
        user_id = uuid.UUID(str(payload["sub"]))
    except (KeyError, ValueError):
        return None, False
    try:
        # Revocation markers are plain strings ("1"), so one MGET answers both questions; the
        # read cache's snapshot rides in the same round trip.
        fields = read_cache.snapshot_fields()
        pipe = get_redis().pipeline(transaction=False)
        pipe.mget(*revocation_keys, GENERATION_KEY)
        pipe.hmget(read_cache.TABLEGEN_KEY, *fields)
        (*revoked, generation), tablegen = pipe.execute()
        read_cache.remember_snapshot(fields, tablegen)
    except redis.RedisError:
        # Unlike rate limits this cannot fail open: a logged-out token would work again.
        raise Unavailable("Authentication is temporarily unavailable; retry shortly", code="AUTH_UNAVAILABLE",
                          headers={"Retry-After": "5"}) from None
    if any(v is not None for v in revoked):
        return None, True
    cached = _users.get(user_id)
    if cached is not None and cached.generation == generation and time.monotonic() - cached.loaded_at < MAX_AGE:
        return cached, False
    row = db.session.execute(
        select(User.id, User.company_id, User.role, User.status, User.deleted_at, User.locked_until,
               User.password_changed_at, suspended_company(User.company_id))
        .where(User.id == user_id).execution_options(include_deleted=True)
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


# Counts one request in the key's hourly and daily windows and reads the generation: one
# command, one round trip. The TTL is set when a window's counter is created (atomically,
# inside the script), not re-sent with every request.
_HIT_LUA = """
local hourly = redis.call('INCR', KEYS[2])
if hourly == 1 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
local daily = redis.call('INCR', KEYS[3])
if daily == 1 then redis.call('EXPIRE', KEYS[3], ARGV[2]) end
local out = {redis.call('GET', KEYS[1]), hourly, daily}
if #ARGV > 2 then
  for _, v in ipairs(redis.call('HMGET', KEYS[4], unpack(ARGV, 3))) do table.insert(out, v or false) end
end
return out
"""
_hit_script: Script | None = None


def _hit(key_id: uuid.UUID, now: float) -> tuple[str | None, int, int]:
    """(generation, requests this hour, requests today), this request included."""
    global _hit_script
    r = get_redis()
    if _hit_script is None:
        _hit_script = r.register_script(_HIT_LUA)  # EVALSHA; reloads itself after a Redis restart
    h, _, d, _ = _windows(now)
    fields = read_cache.snapshot_fields()  # the read cache's snapshot, in the same round trip
    generation, hourly, daily, *tablegen = _hit_script(
        keys=[GENERATION_KEY, f"{COUNTER_PREFIX}{key_id}:{h}", f"{COUNTER_PREFIX}{key_id}:{d}",
              read_cache.TABLEGEN_KEY], args=[3700, 86500, *fields], client=r)
    read_cache.remember_snapshot(fields, [v if v is not False else None for v in tablegen])
    return generation, int(hourly), int(daily)


def lookup(key: str) -> KeyEntry | None:
    """The key's entry, fresh as of this request; also counts the request against its limits.

    The counts land on `g.api_key_usage` as (hourly, daily) for `enforce_limits` (None when
    Redis is down: limits fail open, the database still decides validity).
    """
    from flask import g

    now = time.time()
    cached = _cache.get(key)
    g.api_key_usage = None
    generation, redis_up = None, True
    try:
        if cached is None:
            generation = get_redis().get(GENERATION_KEY)
        else:
            generation, hourly, daily = _hit(cached.id, now)
            g.api_key_usage = (hourly, daily)
            if cached.generation == generation and time.monotonic() - cached.loaded_at < MAX_AGE:
                return cached  # the warm path: one round trip, no database
    except redis.RedisError:
        redis_up = False  # generation unknown: reload below
    entry = _load(key, generation)
    if entry is None:
        _cache.pop(key, None)
        return None
    if len(_cache) >= MAX_ENTRIES:
        _cache.clear()
    _cache[key] = entry
    if redis_up and (cached is None or cached.id != entry.id):  # not yet counted against this key
        try:
            _, hourly, daily = _hit(entry.id, now)
            g.api_key_usage = (hourly, daily)
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


# An ORM change to a field cached above (revocation, suspension, role change, lockout,
# password change, deletion) makes every process reload its cached keys and users after
# the commit. Bookkeeping columns (`last_login`, `login_attempts`, `usage_count`, ...) do not.
_CACHED_FIELDS = {
    ApiKey: ("key", "company_id", "user_id", "name", "key_prefix", "secret_hash", "scopes", "status", "revoked_at",
             "expires_at", "rate_limit_per_hour", "rate_limit_per_day"),
    User: ("company_id", "role", "status", "deleted_at", "locked_until", "password_changed_at"),
    Company: ("status", "is_active"),
}


after_committed_change(_CACHED_FIELDS, bump_generation, key="knowrithm_keys_changed")


def invalidate() -> None:
    """For code that changes keys or users with bulk UPDATE statements (no ORM events)."""
    bump_generation()
