"""Authentication overhead per request (API key vs JWT) and `GET /api/v1/auth/validate`
latency under 100 concurrent clients.

    python bench/auth_overhead.py [--iterations 5000] [--clients 100] [--seconds 10]
                                  [--rates 2 3 5] [--paced-requests 5000] [--server gevent|gthread]

1. In process: the time `principal.resolve()` takes inside a request context, i.e. what
   authentication adds to every request: for an API key with its cache warm (one Redis
   round trip: generation check + hourly/daily counters, then an HMAC-SHA256), for an API
   key with the cache cold (adds the database lookup), and for a JWT (signature check,
   one Redis round trip for revocation + generation, the user's status from the cache).
   Also the after-request log hook (one RPUSH).
2. Over HTTP: gunicorn as `knowrithm api` runs it (2 gevent workers, `knowrithm.gunicorn_conf`;
   `--server gthread` for 2 gthread workers x 16 threads) on the embedded PostgreSQL + Redis,
   100 keep-alive connections from an asyncio client (bench/aio_load.py), once with an API
   key and once with a JWT, in two shapes:
     closed loop  every client sends again as soon as its answer arrives (`wrk` when installed):
                  the saturation throughput; latency there is queueing (clients / throughput).
     paced        each client sends `rate` requests/s (open loop, latency from the scheduled
                  send time): latency at a realistic offered load.
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
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import aio_load  # noqa: E402
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
    from knowrithm.domains.auth.request_log import BUFFER_KEY
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
    return (f"{name:<34} p50 {percentile(samples, 50):7.3f} ms   p95 {percentile(samples, 95):7.3f} ms   "
            f"p99 {percentile(samples, 99):7.3f} ms   max {max(samples):7.2f} ms   "
            f"over 1 ms: {sum(x > 1 for x in samples)}/{len(samples)}")


def load_avg() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def closed_wrk(url: str, headers: dict, clients: int, seconds: int) -> str:
    cmd = ["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout

    def ms(label):
        value, unit = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return (f"{rps:8.0f} req/s   p50 {ms('50'):7.2f} ms   p90 {ms('90'):7.2f} ms   p99 {ms('99'):7.2f} ms   "
            f"non-200 {int(non2xx.group(1)) if non2xx else 0}   (wrk)")


def show(r: dict) -> str:
    lat = r["latencies_ms"]
    return (f"{r['rps']:6.0f} req/s   p50 {percentile(lat, 50):7.2f} ms   p95 {percentile(lat, 95):7.2f} ms   "
            f"p99 {percentile(lat, 99):7.2f} ms   n={len(lat)}   errors {r['errors'] or 0}   "
            f"conns/worker {r['probe'] or '?'}   client cpu {r['client_cpu']:.0%}")


def connections_per_worker(port: int):
    """How the open connections are spread over the gunicorn workers (from `ss`), e.g. "52/48"."""
    def probe() -> str | None:
        try:
            out = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
                                 capture_output=True, text=True, timeout=5).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        counts: dict[str, int] = {}
        for pid in re.findall(r"pid=(\d+)", out):
            counts[pid] = counts.get(pid, 0) + 1
        return "/".join(str(n) for n in sorted(counts.values(), reverse=True)) or None
    return probe


def start_server(env: dict, workers: int, server: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    if server == "gevent":  # exactly `knowrithm api`
        shape = ["-c", "python:knowrithm.gunicorn_conf"]
    else:
        shape = ["--worker-class", "gthread", "--threads", "16"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *shape, "knowrithm.wsgi:app", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--log-level", "warning", "--no-control-socket"],
        env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, port


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=10, help="closed-loop run length")
    parser.add_argument("--rates", type=float, nargs="*", default=[2.0, 3.0, 5.0],
                        help="requests/s per paced client")
    parser.add_argument("--paced-requests", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--server", choices=("gevent", "gthread"), default="gevent")
    parser.add_argument("--skip-http", action="store_true")
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

            print(f"== in-process authentication overhead ({args.iterations} requests each; "
                  f"{os.cpu_count()} CPUs, load average {load_avg()}) ==")
            print(summary("API key (cache warm)", time_resolve(app, key_headers, args.iterations)))
            print(summary("API key (cache cold: + DB lookup)", time_resolve(app, key_headers,
                                                                            args.iterations // 5, cold=True)))
            print(summary("JWT", time_resolve(app, jwt_headers, args.iterations)))
            print(summary("API-key request log hook (RPUSH)", time_log_hook(app, args.iterations)))
            if args.skip_http:
                return

            gunicorn, port = start_server(env, args.workers, args.server)
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
            shape = ("2 gevent workers (knowrithm api)" if args.server == "gevent" and args.workers == 2
                     else f"{args.workers} {args.server} workers")
            print(f"\n== GET /api/v1/auth/validate, gunicorn {shape}, {args.clients} keep-alive connections, "
                  f"{os.cpu_count()} CPUs ==")
            probe = connections_per_worker(port)
            for name, headers in (("API key", key_headers), ("JWT", jwt_headers)):
                # warm-up at full concurrency: connection pools, caches, lazy imports
                aio_load.closed_loop(url, headers, args.clients, 3)
                print(f"-- {name} (load average {load_avg()})")
                if shutil.which("wrk"):
                    print(f"closed loop, wrk -c{args.clients} {args.seconds}s   "
                          + closed_wrk(url, headers, args.clients, args.seconds))
                r = aio_load.closed_loop(url, headers, args.clients, args.seconds, probe=probe)
                print(f"{f'closed loop, {args.clients} clients, {args.seconds}s':<31}" + show(r))
                for rate in args.rates:
                    r = aio_load.open_loop(url, headers, args.clients, rate, args.paced_requests, probe=probe)
                    print(f"{f'paced, {args.clients} x {rate:g}/s = {args.clients * rate:g}/s':<31}" + show(r))
            print(f"(load average at the end {load_avg()})")
        finally:
            if gunicorn is not None:
                gunicorn.terminate()
                gunicorn.wait(30)
            rd.stop()
            pg.stop()


if __name__ == "__main__":
    main()
