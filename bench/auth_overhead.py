"""Authentication overhead per request (API key vs JWT) and `GET /api/v1/auth/validate`
latency under concurrent clients.

    python bench/auth_overhead.py [--iterations 5000] [--clients 1 10 100] [--seconds 15]

1. In process: the time `principal.resolve()` takes inside a request context, i.e. what
   authentication adds to every request: for an API key with its cache warm (one Redis
   round trip: generation check + hourly/daily counters, then an HMAC-SHA256), for an API
   key with the cache cold (adds the database lookup), and for a JWT (signature check,
   revocation lookup in Redis, the user row). Also the after-request log hook (one RPUSH).
2. Over HTTP: gunicorn (2 gthread workers x 16 threads, as `knowrithm api` runs it) on the
   embedded PostgreSQL + Redis, loaded by `wrk` with N concurrent connections (a Python
   thread pool when `wrk` is absent), once with an API key and once with a JWT.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, percentile  # noqa: E402

SECRET = "bench-secret-key-0123456789abcdef"
JWT_SECRET = "bench-jwt-key-0123456789abcdef-0123456789"


def settings_env(db_uri: str, redis_url: str) -> dict:
    return {"SQLALCHEMY_DATABASE_URI": db_uri, "REDIS_URL": redis_url, "SECRET_KEY": SECRET,
            "JWT_SECRET_KEY": JWT_SECRET, "SUPER_ADMIN_PASSWORD": "Bench-admin-pass-1", "LOG_LEVEL": "WARNING",
            "LOG_JSON": "false", "RATELIMIT_ENABLED": "true"}


def setup_tenant(app) -> tuple[str, str, str]:
    from knowrithm.domains.auth import tokens
    from knowrithm.domains.auth.api_keys import create_api_key
    from knowrithm.domains.auth.models import User
    from knowrithm.domains.auth.passwords import hash_password
    from knowrithm.domains.companies.models import Company
    from knowrithm.infra.db import db

    with app.test_request_context():
        company = Company(name=f"Bench {uuid.uuid4().hex[:6]}")
        db.session.add(company)
        db.session.flush()
        user = User(company_id=company.id, email=f"bench-{uuid.uuid4().hex[:8]}@bench.test",
                    username=f"bench_{uuid.uuid4().hex[:8]}", password_hash=hash_password("Bench-pass-123"),
                    role="admin", status="active")
        db.session.add(user)
        db.session.commit()
        row, secret = create_api_key(user=user, name="bench", scopes=["read"], rate_limit_per_hour=10**6,
                                     rate_limit_per_day=10**7)
        access = tokens.issue_pair(user)["access_token"]
        key = row.key
        db.session.remove()
    return key, secret, access


def time_resolve(app, headers: dict, n: int, cold: bool = False) -> list[float]:
    from flask import g

    from knowrithm.domains.auth import key_cache
    from knowrithm.domains.auth.principal import resolve
    from knowrithm.infra.db import db

    samples = []
    for i in range(n + 50):
        with app.test_request_context("/api/v1/auth/validate", headers=headers):
            if cold:
                key_cache._cache.clear()
            t0 = time.perf_counter()
            principal = resolve()
            elapsed = time.perf_counter() - t0
            assert principal is not None
            g.pop("api_key_entry", None)  # no request-log row for these synthetic contexts
            db.session.remove()
        if i >= 50:  # warm-up: connection pools, caches
            samples.append(elapsed * 1000)
    return samples


def time_log_hook(app, n: int) -> list[float]:
    from knowrithm.domains.analytics.request_log import BUFFER_KEY
    from knowrithm.infra.redis import get_redis

    samples = []
    with app.app_context():
        r = get_redis()
        row = '["%s","%s","%s","GET","/api/v1/auth/validate",200,1.0,0]' % ((uuid.uuid4(),) * 3)
        for _ in range(n):
            t0 = time.perf_counter()
            r.rpush(BUFFER_KEY + ":bench", row)
            samples.append((time.perf_counter() - t0) * 1000)
        r.delete(BUFFER_KEY + ":bench")
    return samples


def summary(name: str, samples: list[float]) -> str:
    return (f"{name:<34} p50 {percentile(samples, 50):7.3f} ms   p90 {percentile(samples, 90):7.3f} ms   "
            f"p99 {percentile(samples, 99):7.3f} ms   (n={len(samples)})")


def load_wrk(url: str, headers: dict, clients: int, seconds: int) -> dict:
    cmd = ["wrk", "-t", str(min(2, clients)), "-c", str(clients), "-d", f"{seconds}s", "--latency", "--timeout", "10s"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout

    def ms(label):
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"p50": ms("50"), "p99": ms("99"), "rps": rps, "errors": int(non2xx.group(1)) if non2xx else 0,
            "tool": "wrk"}


def load_threads(url: str, headers: dict, clients: int, seconds: int) -> dict:
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    errors = 0

    def client():
        nonlocal errors
        with requests.Session() as s:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                ok = s.get(url, headers=headers, timeout=10).status_code == 200
                latencies.append((time.perf_counter() - t0) * 1000)
                errors += 0 if ok else 1

    with ThreadPoolExecutor(clients) as pool:
        for _ in range(clients):
            pool.submit(client)
    return {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99), "rps": len(latencies) / seconds,
            "errors": errors, "tool": "python threads"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--clients", type=int, nargs="+", default=[100])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from knowrithm.infra.embedded import EmbeddedPostgres, EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix="knowrithm-bench-auth-") as tmp:
        pg, rd = EmbeddedPostgres(Path(tmp) / "pg"), EmbeddedRedis(Path(tmp) / "redis")
        db_uri, redis_url = pg.start("bench"), rd.start()
        env = settings_env(db_uri, redis_url)
        gunicorn = None
        try:
            os.environ.update(env)
            from knowrithm.app import create_app
            from knowrithm.bootstrap import bootstrap
            from knowrithm.config import Settings

            app = create_app(Settings(_env_file=None))
            with app.app_context():
                bootstrap(app)
            key, secret, access = setup_tenant(app)
            key_headers = {"X-API-Key": key, "X-API-Secret": secret}
            jwt_headers = {"Authorization": f"Bearer {access}"}

            print(f"== in-process authentication overhead ({args.iterations} requests each, "
                  f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs) ==")
            print(summary("API key (cache warm)", time_resolve(app, key_headers, args.iterations)))
            print(summary("API key (cache cold: + DB lookup)", time_resolve(app, key_headers,
                                                                            args.iterations // 5, cold=True)))
            print(summary("JWT", time_resolve(app, jwt_headers, args.iterations)))
            print(summary("API-key request log hook (RPUSH)", time_log_hook(app, args.iterations)))

            port = free_port()
            gunicorn = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "knowrithm.wsgi:app", "--bind", f"127.0.0.1:{port}",
                 "--workers", str(args.workers), "--worker-class", "gthread", "--threads", "16",
                 "--log-level", "warning", "--no-control-socket"],
                env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            url = f"http://127.0.0.1:{port}/api/v1/auth/validate"
            deadline = time.time() + 60
            while True:
                try:
                    if requests.get(url, headers=key_headers, timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if time.time() > deadline:
                    raise RuntimeError("gunicorn did not come up")
                time.sleep(0.2)
            load = load_wrk if shutil.which("wrk") else load_threads
            print(f"\n== GET /api/v1/auth/validate, {args.seconds} s per run, gunicorn {args.workers} gthread "
                  f"workers x 16 threads, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} ==")
            for clients in args.clients:
                for name, headers in (("API key", key_headers), ("JWT", jwt_headers)):
                    r = load(url, headers, clients, args.seconds)
                    print(f"{clients:>3} clients  {name:<8} p50 {r['p50']:7.2f} ms   p99 {r['p99']:7.2f} ms   "
                          f"{r['rps']:8.0f} req/s   non-200: {r['errors']}   ({r['tool']})")
        finally:
            if gunicorn is not None:
                gunicorn.terminate()
                gunicorn.wait(30)
            rd.stop()
            pg.stop()


if __name__ == "__main__":
    main()
