"""Latency of GET /api/health under 100 concurrent clients against gunicorn (gthread), loopback only.

    python bench/health_load.py [--url http://127.0.0.1:8000] [--clients 100] [--requests 20000]

Without --url it starts `knowrithm up` on a temporary data directory (gunicorn: 2 gthread
workers x 16 threads, as `knowrithm up` runs it) and stops it afterwards.

Two load shapes, both with 100 keep-alive connections:
  closed loop  every client sends its next request as soon as the previous answer arrives
               (`wrk -c100 --latency` when wrk is installed, else the Python client below):
               measures capacity; latency there is ~ clients / throughput (Little's law).
  paced        each client sends one request every 1/rate seconds (open loop, latency
               measured from the scheduled send time, so queueing is not hidden).
"""
from __future__ import annotations

import argparse
import http.client
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from common import Platform, percentile


def run_clients(url: str, clients: int, total: int, rate_per_client: float | None) -> dict:
    """`clients` threads, one keep-alive connection each, `total` requests in all."""
    parts = urlsplit(url)
    per_client = max(1, total // clients)
    latencies: list[float] = []
    errors = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        mine = []
        barrier.wait()
        start = time.perf_counter() + (index / clients) / rate_per_client if rate_per_client else 0
        for n in range(per_client):
            if rate_per_client:  # open loop: the clock, not the previous answer, decides when to send
                scheduled = start + n / rate_per_client
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            else:
                scheduled = time.perf_counter()
            try:
                conn.request("GET", "/api/health")
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    errors.append(resp.status)
            except (OSError, http.client.HTTPException) as exc:
                errors.append(repr(exc))
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            mine.append(time.perf_counter() - scheduled)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    return {"requests": len(latencies), "errors": len(errors), "seconds": elapsed,
            "rps": len(latencies) / elapsed,
            "p50_ms": percentile(latencies, 50) * 1000, "p90_ms": percentile(latencies, 90) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000, "max_ms": max(latencies) * 1000}


def run_wrk(url: str, clients: int, seconds: int) -> dict | None:
    if not shutil.which("wrk"):
        return None
    out = subprocess.run(["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "--latency", f"{url}/api/health"],
                         capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "errors": int(non2xx.group(1)) if non2xx else 0,
            "p50_ms": ms("50%"), "p90_ms": ms("90%"), "p99_ms": ms("99%"), "raw": out}


def show(name: str, r: dict) -> None:
    print(f"{name:<34} n={r['requests']:<6} errors={r['errors']:<4} {r['rps']:8.0f} req/s   "
          f"p50 {r['p50_ms']:7.2f} ms   p90 {r['p90_ms']:7.2f} ms   p99 {r['p99_ms']:7.2f} ms")


def bench(url: str, args) -> None:
    run_clients(url, 10, 500, None)  # warm-up: connections, caches, lazy imports
    if not args.no_wrk and (w := run_wrk(url, args.clients, args.wrk_seconds)):
        show(f"closed loop, wrk -c{args.clients} {args.wrk_seconds}s", w)
    show(f"closed loop, python, {args.clients} clients", run_clients(url, args.clients, args.requests, None))
    for rate in args.rates:
        show(f"paced, {args.clients} clients x {rate:g}/s", run_clients(url, args.clients, args.paced_requests, rate))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--requests", type=int, default=20000, help="closed-loop total (python client)")
    parser.add_argument("--paced-requests", type=int, default=5000)
    parser.add_argument("--rates", type=float, nargs="*", default=[2.0, 5.0], help="requests/s per paced client")
    parser.add_argument("--wrk-seconds", type=int, default=10)
    parser.add_argument("--no-wrk", action="store_true")
    parser.add_argument("--api-workers", type=int, default=2)
    args = parser.parse_args()
    if args.url:
        bench(args.url.rstrip("/"), args)
        return
    with tempfile.TemporaryDirectory(prefix="knowrithm-bench-") as tmp:
        with Platform(Path(tmp) / "data", workers=args.api_workers) as platform:
            bench(platform.url, args)


if __name__ == "__main__":
    main()
