"""Request rate limits on Redis (docs/api-compatibility.md, "Rate limits and CORS"): 429 + `Retry-After` + the error envelope.

Two ways to use it:

1. Decorate a view, under the `ApiBlueprint` decorator so the limit sees parsed input::

       from knowrithm.infra.ratelimit import rate_limit

       @bp.post("/document/upload", auth=WRITE, multipart=True, status=202)
       @rate_limit("20/minute", scope="upload", per="company")
       def upload(): ...

       @bp.post("/auth/login", auth=PUBLIC, body=LoginIn)
       @rate_limit("10/minute", scope="login", key=lambda body, **_: body.email.lower())
       def login(body): ...

   `per` names who shares a budget: "ip" (default), "company" (the caller's company,
   falls back to the IP on public routes), "principal" (user, key or lead) or "global".
   `key` adds a discriminator computed from the view's keyword arguments (body, query,
   path parameters). Stack decorators for several budgets (per IP+email and per IP).

2. Call `check()` from a service or another hook::

       check("handshake", str(company_id), "5/second")

Rates are written "N/second|minute|hour|day" (also "N per minute", "N/30s"). Windows are
fixed (one INCR + EXPIRE round trip), or `sliding=True` for the usual two-window
weighted estimate, which smooths the burst a fixed window allows at its edges.

The limiter fails open: when Redis is unreachable a request is let through (and logged),
because refusing every login during a cache outage is worse than a short unthrottled
spell. `RATELIMIT_ENABLED=false` switches every limit off.
"""
from __future__ import annotations

import functools
import logging
import math
import re
import time
from dataclasses import dataclass
from typing import Callable

import redis
from flask import current_app, has_request_context, request

from .auth import current_principal
from .errors import RateLimited
from .redis import get_redis

log = logging.getLogger(__name__)

PREFIX = "knowrithm:rl:"
_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600,
          "d": 86400, "day": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(\d*)\s*([a-z]+?)s?\s*$")


@dataclass(frozen=True)
class Rate:
    limit: int
    window: int  # seconds

    @classmethod
    def parse(cls, text: str) -> "Rate":
        m = _RATE.match(text.lower())
        if not m or m.group(3) not in _UNITS:
            raise ValueError(f"bad rate {text!r}; use e.g. '10/minute' or '100 per hour'")
        return cls(int(m.group(1)), int(m.group(2) or 1) * _UNITS[m.group(3)])


@dataclass(frozen=True)
class Outcome:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # seconds until a request would be allowed again (0 when allowed)


def _enabled() -> bool:
    return bool(getattr(current_app.config.get("SETTINGS"), "RATELIMIT_ENABLED", True))


def hit(scope: str, identity: str, rate: Rate | str, *, sliding: bool = False, cost: int = 1) -> Outcome:
    """Count one request against `scope:identity` and say whether it fits the rate."""
    rate = Rate.parse(rate) if isinstance(rate, str) else rate
    now = time.time()
    window_no = int(now // rate.window)
    key = f"{PREFIX}{scope}:{identity}:{rate.window}:{window_no}"
    pipe = get_redis().pipeline(transaction=False)
    pipe.incrby(key, cost)
    # The key name carries the window number, so refreshing the TTL on every hit is harmless
    # (and works on Redis 6, which lacks EXPIRE NX).
    pipe.expire(key, rate.window * (2 if sliding else 1) + 1)
    if sliding:
        pipe.get(f"{PREFIX}{scope}:{identity}:{rate.window}:{window_no - 1}")
    results = pipe.execute()
    count = int(results[0])
    window_end = (window_no + 1) * rate.window
    if sliding:
        previous = int(results[2] or 0)
        elapsed = (now % rate.window) / rate.window
        count = math.floor(previous * (1 - elapsed)) + count
    if count <= rate.limit:
        return Outcome(True, rate.limit, rate.limit - count, 0)
    return Outcome(False, rate.limit, 0, max(1, math.ceil(window_end - now)))


def check(scope: str, identity: str, rate: Rate | str, *, sliding: bool = False,
          message: str | None = None) -> Outcome | None:
    """`hit()` that raises `RateLimited` (429 + Retry-After) when over the limit."""
    if not _enabled():
        return None
    try:
        outcome = hit(scope, identity, rate, sliding=sliding)
    except redis.RedisError:
        log.warning("rate limiter unavailable; allowing %s", scope, exc_info=True)
        return None
    if not outcome.allowed:
        raise RateLimited(message or f"Too many requests; retry in {outcome.retry_after} seconds",
                          headers={"Retry-After": str(outcome.retry_after)},
                          details={"limit": outcome.limit, "retry_after": outcome.retry_after})
    return outcome


def client_ip() -> str:
    # remote_addr only: X-Forwarded-For is client-controlled. Behind a proxy, deploy with
    # werkzeug's ProxyFix so remote_addr is the real client.
    return (request.remote_addr or "unknown") if has_request_context() else "local"


def _who(per: str) -> str:
    if per == "global":
        return "all"
    if per == "ip":
        return client_ip()
    principal = current_principal(optional=True)
    if principal is None:
        return "ip:" + client_ip()
    if per == "company" and principal.company_id:
        return f"c:{principal.company_id}"
    ident = principal.api_key_id or principal.lead_id or principal.user_id
    return f"{principal.kind}:{ident}"


def rate_limit(rate: str, *, scope: str | None = None, per: str = "ip",
               key: Callable[..., str | None] | None = None, sliding: bool = False) -> Callable:
    """Decorator form of `check()`; see the module docstring."""
    parsed = Rate.parse(rate)
    if per not in ("ip", "company", "principal", "global"):
        raise ValueError(f"unknown rate-limit subject {per!r}")

    def decorator(view: Callable) -> Callable:
        name = scope or view.__name__

        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            identity = _who(per)
            if key is not None:
                extra = key(*args, **kwargs)
                if extra:
                    identity = f"{identity}|{str(extra)[:200]}"
            check(name, identity, parsed, sliding=sliding)
            return view(*args, **kwargs)

        return wrapper

    return decorator
