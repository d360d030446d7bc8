"""Authenticated cached reads against a bare Flask app, side by side in the same run.

    python bench/api_throughput.py [--rounds 2] [--seconds 10] [--clients 100]
                                   [--paced-requests 5000] [--profile DIR]

Starts `knowrithm up` (embedded PostgreSQL + Redis, gunicorn with 2 gevent workers, the Celery
workers) and, beside it, `bench/bare_flask.py` under the same gunicorn configuration
(`-c python:knowrithm.gunicorn_conf`, --preload, 2 workers). Then, for each route:

  saturation   `wrk -t2 -c100 -d10s` (the asyncio client of bench/aio_load.py when wrk is
               absent), the routes taken in turn within each round, so each platform figure is
               divided by the bare app's figure of the *same round*: a ratio that survives a
               busy machine better than the raw numbers.
  half load    100 keep-alive clients paced (open loop, latency from the scheduled send time)
               at half the route's saturation throughput: p50 / p99.

Routes: `GET /api/v1/auth/validate` with an API key and `GET /api/v1/agent` with a JWT (the
company has 3 agents, so the list loads and counts real rows).

--profile DIR records each platform route's saturation run with py-spy (one raw stack file
per gunicorn worker) and prints where the samples fall, including the share spent compiling
SQL (a statement-cache miss shows up there).
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
from collections import Counter
from pathlib import Path

import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import aio_load  # noqa: E402
from common import Platform, free_port, percentile  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent


def load_avg() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def start_bare(workers: int) -> tuple[subprocess.Popen, str]:
    import gunicorn

    port = free_port()
    extra = ["--no-control-socket"] if gunicorn.version_info >= (27,) else []
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "bare_flask:app", "-c", "python:knowrithm.gunicorn_conf",
                             "--pythonpath", str(BENCH_DIR), "--bind", f"127.0.0.1:{port}", "--preload",
                             "--workers", str(workers), "--log-level", "warning", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/hello"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return proc, url
        except requests.RequestException:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("the bare Flask app did not come up")


def setup_company(url: str) -> tuple[dict, dict]:
    s = requests.Session()
    reg = s.post(f"{url}/api/v1/auth/register", json={
        "first_name": "Bench", "last_name": "Mark", "email": "throughput@bench.test", "password": "Bench-Pass-123!",
        "company_name": "Bench Throughput", "accept_terms": True})
    reg.raise_for_status()
    jwt = {"Authorization": f"Bearer {reg.json()['access_token']}"}
    key = s.post(f"{url}/api/v1/auth/api-keys", headers=jwt, json={
        "name": "bench", "scopes": ["read"], "rate_limit_per_hour": 1_000_000, "rate_limit_per_day": 10_000_000})
    key.raise_for_status()
    api_key = {"X-API-Key": key.json()["api_key"], "X-API-Secret": key.json()["api_secret"]}
    for n in range(3):
        s.post(f"{url}/api/v1/agent", headers=jwt, json={"name": f"Bench agent {n}"}).raise_for_status()
    deadline = time.time() + 120
    while s.get(f"{url}/api/v1/agent", headers=jwt).json()["pagination"]["total"] < 3:
        if time.time() > deadline:
            raise RuntimeError("the agents were not created")
        time.sleep(0.2)
    return api_key, jwt


def wrk(url: str, headers: dict, clients: int, seconds: int) -> dict:
    cmd = ["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "p50": ms("50"), "p99": ms("99"),
            "errors": (int(non2xx.group(1)) if non2xx else 0), "socket": errors.group(0) if errors else ""}


def closed(url: str, headers: dict, clients: int, seconds: int) -> dict:
    if shutil.which("wrk"):
        return wrk(url, headers, clients, seconds)
    r = aio_load.closed_loop(url, headers, clients, seconds)
    lat = r["latencies_ms"]
    return {"rps": r["rps"], "p50": percentile(lat, 50), "p99": percentile(lat, 99),
            "errors": sum(r["errors"].values()), "socket": ""}


def gunicorn_workers(platform: Platform) -> list[int]:
    """The forked gunicorn workers of `knowrithm up` (children of the gunicorn master)."""
    pids = []
    for proc in psutil.Process(platform.proc.pid).children(recursive=True):
        try:
            parent = proc.parent()
            if "gunicorn" in " ".join(proc.cmdline()) and parent and "gunicorn" in " ".join(parent.cmdline()):
                pids.append(proc.pid)
        except psutil.Error:
            continue
    return pids


def py_spy() -> str:
    beside = Path(sys.executable).parent / "py-spy"  # pip installs it into the virtualenv
    return str(beside) if beside.exists() else "py-spy"


def profiled(pids: list[int], out_dir: Path, name: str, seconds: int, run):
    """Runs `run()` while py-spy samples every worker; returns run()'s result and a summary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    spies = [subprocess.Popen([py_spy(), "record", "--pid", str(pid), "--duration", str(seconds + 1), "--rate", "200",
                               "--format", "raw", "--output", str(out_dir / f"{name}-{pid}.txt"), "--nonblocking"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for pid in pids]
    time.sleep(0.5)
    result = run()
    for spy in spies:
        spy.wait(60)
    return result, summarise_stacks([out_dir / f"{name}-{pid}.txt" for pid in pids])


def summarise_stacks(files: list[Path]) -> str:
    """Share of samples under a few functions of interest, and the top functions by own time."""
    total, inclusive, own = 0, Counter(), Counter()
    marks = {"compile SQL": "_compile_w_cache", "SQLCompiler.__init__": "SQLCompiler.__init__",
             "LoaderCriteriaOption._all_mappers": "_all_mappers", "psycopg": "psycopg", "redis": "redis/",
             "Session.execute": "Session.execute", "tenancy hook": "_scope_queries"}
    for f in files:
        if not f.exists():
            continue
        for line in f.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            total += n
            frames = stack.split(";")
            own[frames[-1].split(" (")[0]] += n
            for label, needle in marks.items():
                if any(needle in frame for frame in frames):
                    inclusive[label] += n
    if not total:
        return "  (no samples: is py-spy installed and allowed to attach?)"
    lines = ["  inclusive: " + ", ".join(f"{k} {inclusive[k] / total:.0%}" for k in marks)]
    lines.append("  top own time: " + ", ".join(f"{k} {n / total:.0%}" for k, n in own.most_common(8)))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--paced-requests", type=int, default=5000)
    parser.add_argument("--paced-seconds", type=float, default=20, help="at most this long per paced route")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profile", type=Path, help="record the platform's saturation runs with py-spy into DIR")
    args = parser.parse_args()

    print(f"{os.cpu_count()} CPUs, load average {load_avg()}; client: "
          f"{'wrk -t2' if shutil.which('wrk') else 'asyncio (wrk not installed)'}, {args.clients} connections")
    with tempfile.TemporaryDirectory(prefix="knowrithm-bench-throughput-") as tmp:
        bare, bare_url = start_bare(args.workers)
        platform = Platform(Path(tmp) / "data", workers=args.workers)
        try:
            platform.start()
            api_key, jwt = setup_company(platform.url)
            routes = [("bare Flask GET /hello", bare_url, {}),
                      ("GET /auth/validate, API key", f"{platform.url}/api/v1/auth/validate", api_key),
                      ("GET /agent, JWT", f"{platform.url}/api/v1/agent", jwt)]
            for _, url, headers in routes:  # warm-up: pools, caches, lazy imports
                aio_load.closed_loop(url, headers, args.clients, 3)

            saturation: dict[str, list[float]] = {name: [] for name, _, _ in routes}
            print(f"\n== saturation, {args.clients} connections, {args.seconds} s per route, routes in turn ==")
            for rnd in range(1, args.rounds + 1):
                print(f"-- round {rnd} (load average {load_avg()})")
                bare_rps = None
                for name, url, headers in routes:
                    r = closed(url, headers, args.clients, args.seconds)
                    saturation[name].append(r["rps"])
                    bare_rps = bare_rps or r["rps"]
                    print(f"{name:<30} {r['rps']:8.0f} req/s   ratio to bare {r['rps'] / bare_rps:6.1%}   "
                          f"p50 {r['p50']:7.2f} ms   p99 {r['p99']:7.2f} ms   non-200 {r['errors']} {r['socket']}")

            print(f"\n== half saturation, {args.clients} paced clients, up to {args.paced_requests} requests "
                  f"or {args.paced_seconds:g} s per route ==")
            for name, url, headers in routes:
                rate = sum(saturation[name]) / len(saturation[name]) / 2
                total = max(args.clients, min(args.paced_requests, int(rate * args.paced_seconds)))
                r = aio_load.open_loop(url, headers, args.clients, rate / args.clients, total)
                lat = r["latencies_ms"]
                print(f"{name:<30} {rate:8.0f} req/s offered   p50 {percentile(lat, 50):7.2f} ms   "
                      f"p99 {percentile(lat, 99):7.2f} ms   n={len(lat)}   errors {sum(r['errors'].values())}   "
                      f"client cpu {r['client_cpu']:.0%}")

            if args.profile:
                pids = gunicorn_workers(platform)
                print(f"\n== py-spy, {len(pids)} gunicorn workers, saturation runs, stacks in {args.profile} ==")
                for name, url, headers in routes[1:]:
                    slug = re.sub(r"[^a-z]+", "-", name.lower()).strip("-")
                    r, text = profiled(pids, args.profile, slug, args.seconds,
                                       lambda: closed(url, headers, args.clients, args.seconds))
                    print(f"{name} ({r['rps']:.0f} req/s while sampled)\n{text}")
            print(f"\n(load average at the end {load_avg()})")
        finally:
            platform.stop() if platform.proc else None
            bare.terminate()
            bare.wait(30)


if __name__ == "__main__":
    main()
