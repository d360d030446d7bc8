"""infra.ratelimit: the Redis limiter every route can use (docs/api-compatibility.md, "Rate limits and CORS")."""
from __future__ import annotations

import uuid

import pytest
import redis

from knowrithm.infra import ratelimit
from knowrithm.infra.errors import RateLimited
from tests.infra.test_conventions import assert_envelope


@pytest.mark.parametrize("text, limit, window", [
    ("10/minute", 10, 60), ("5 per second", 5, 1), ("100/hour", 100, 3600), ("3/day", 3, 86400),
    ("7/30s", 7, 30), ("2/minutes", 2, 60),
])
def test_rate_parsing(text, limit, window):
    assert ratelimit.Rate.parse(text) == ratelimit.Rate(limit, window)


@pytest.mark.parametrize("text", ["ten/minute", "5/fortnight", "", "5"])
def test_bad_rates_are_refused(text):
    with pytest.raises(ValueError):
        ratelimit.Rate.parse(text)


def test_fixed_window_counts_and_raises(app):
    who = uuid.uuid4().hex
    with app.test_request_context():
        outcomes = [ratelimit.check("unit", who, "3/minute") for _ in range(3)]
        assert [o.remaining for o in outcomes] == [2, 1, 0]
        with pytest.raises(RateLimited) as info:
            ratelimit.check("unit", who, "3/minute")
        assert 1 <= int(info.value.headers["Retry-After"]) <= 60
        assert info.value.status == 429
        # Another identity or scope has its own budget.
        assert ratelimit.check("unit", who + "-other", "3/minute").allowed
        assert ratelimit.check("unit-2", who, "3/minute").allowed


def test_sliding_window_carries_the_previous_window(app):
    import time

    who = uuid.uuid4().hex
    rate = ratelimit.Rate(4, 86400)
    with app.test_request_context():
        r = app.extensions["redis"]
        previous = int(time.time() // 86400) - 1
        r.set(f"{ratelimit.PREFIX}slide:{who}:86400:{previous}", 10**9, ex=60)
        # Yesterday was hugely over budget, so its weighted share alone exceeds the limit
        # for all but the last nanoseconds of today; a fixed window starts afresh.
        assert not ratelimit.hit("slide", who, rate, sliding=True).allowed
        assert ratelimit.hit("fixed", who, rate).allowed


def test_disabled_limits_never_refuse(app, settings, monkeypatch):
    monkeypatch.setattr(settings, "RATELIMIT_ENABLED", False)
    with app.test_request_context():
        assert all(ratelimit.check("off", "x", "1/hour") is None for _ in range(5))


def test_limiter_fails_open_without_redis(app, monkeypatch):
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(ratelimit, "get_redis", lambda: dead)
    with app.test_request_context():
        assert ratelimit.check("down", "x", "1/hour") is None


def test_decorator_keys_by_ip_and_extra(app):
    calls = []

    @ratelimit.rate_limit("2/minute", scope=f"deco-{uuid.uuid4().hex}", key=lambda body, **_: body)
    def view(body):
        calls.append(body)
        return body

    with app.test_request_context(environ_base={"REMOTE_ADDR": "10.0.0.1"}):
        assert view(body="a") == "a" and view(body="a") == "a"
        with pytest.raises(RateLimited):
            view(body="a")
        assert view(body="b") == "b"
    with app.test_request_context(environ_base={"REMOTE_ADDR": "10.0.0.2"}):
        assert view(body="a") == "a"
    assert calls == ["a", "a", "b", "a"]


def test_unknown_subject_is_a_programming_error():
    with pytest.raises(ValueError):
        ratelimit.rate_limit("1/minute", per="planet")


def test_register_is_throttled(http, settings):
    # Well-formed requests count (the weak password is refused by the service, after the
    # limiter); malformed bodies are refused before it and cost nothing.
    attempt = {"company_name": "Spam", "email": "spam@spam.test", "password": "weak"}
    statuses = [http.post("/api/v1/auth/register", json=attempt).status_code for _ in range(20)]
    assert statuses == [400] * 20
    resp = http.post("/api/v1/auth/register", json=attempt)
    assert_envelope(resp, 429, "RATE_LIMITED")
    assert "Retry-After" in resp.headers
