"""Load through nginx on the two-node topology of bench/cluster.py (deploy/local-cluster.sh).

    python bench/load.py [--users 24] [--duration 60] [--streams 10000] [--hold 30] [--url URL]

1. Mix (`--users` concurrent users for `--duration` s, each picking its next action at random):
   - widget visitors, 40%: a new visitor registers as a lead (`POST /lead/register`), starts a
     conversation with the lead token, opens its event stream, POSTs a chat message and reads the
     stream until the answer event (latency: POST sent -> answer received);
   - SDK admin reads, 50%: list agents, documents, conversations (API key);
   - uploads, 10%: a small Markdown document (multipart).
   Reports requests/s and p50/p95/p99 per route, and errors.
2. Streams (`--streams`, 0 skips): that many concurrent SSE conversations held through nginx for
   `--hold` s with 5 s heartbeats (bench/chat_streaming.hold_streams); counts the streams that
   kept receiving heartbeats, errors, and the memory of each API node (gunicorn master + workers).

Without `--url` the topology is started here and stopped at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from client import wait_task  # noqa: E402
from common import percentile  # noqa: E402

DOC = ("# Refund policy\n\nRefunds are processed within five business days after we receive the returned item. "
       "Shipping costs are not refunded.\n\n# Support\n\nThe support desk is open Monday to Friday, 9am to 5pm.\n")
QUESTIONS = ("How long do refunds take?", "Are shipping costs refunded?", "When is the support desk open?")


def setup(url: str) -> dict:
    """A company with an API key, an agent with one processed document, and a conversation per user."""
    s = requests.Session()
    tag = str(int(time.time() * 1000))
    reg = s.post(f"{url}/api/v1/auth/register", json={
        "first_name": "Load", "last_name": "Test", "email": f"load-{tag}@bench.test", "password": "Load-Pass-123!x",
        "company_name": f"Load {tag}", "accept_terms": True}, timeout=60).json()
    bearer = {"Authorization": f"Bearer {reg['access_token']}"}
    key = s.post(f"{url}/api/v1/auth/api-keys", headers=bearer, json={"name": "load", "scopes": ["full_access"]},
                 timeout=60).json()
    auth = {"X-API-Key": key["api_key"], "X-API-Secret": key["api_secret"]}
    ack = s.post(f"{url}/api/v1/agent", headers=auth, json={"name": "Load agent"}, timeout=60).json()
    agent_id = wait_task(s, url, ack)["agent"]["id"]
    files = {"files": ("policy.md", DOC.encode(), "text/markdown")}
    s.post(f"{url}/api/v1/document/upload", headers=auth, data={"agent_id": agent_id}, files=files, timeout=60)
    deadline = time.time() + 180
    while time.time() < deadline:
        docs = s.get(f"{url}/api/v1/document", headers=auth, params={"per_page": 10}, timeout=60).json()["documents"]
        if docs and all(d["status"] == "processed" for d in docs):
            break
        time.sleep(0.5)
    return {"auth": auth, "bearer": bearer, "agent_id": agent_id}


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)

    def ok(self, route: str, seconds: float) -> None:
        with self.lock:
            self.samples[route].append(seconds * 1000)

    def error(self, route: str, what: str) -> None:
        with self.lock:
            self.errors[route].append(what)


def visitor(s: requests.Session, url: str, ctx: dict, rec: Recorder) -> None:
    """A widget visitor: register (a new lead session), start a conversation, chat over the stream."""
    started = time.perf_counter()
    reg = s.post(f"{url}/api/v1/lead/register", timeout=60, json={
        "agent_id": ctx["agent_id"], "first_name": "Web", "last_name": "Visitor",
        "email": f"visitor-{random.getrandbits(48):x}@visitors.io"})
    if reg.status_code != 200:
        rec.error("POST /lead/register", f"{reg.status_code} {reg.text[:120]}")
        return
    rec.ok("POST /lead/register", time.perf_counter() - started)
    lead = {"Authorization": f"Bearer {reg.json()['access_token']}"}
    started = time.perf_counter()
    conv = s.post(f"{url}/api/v1/conversation", headers=lead, json={"agent_id": ctx["agent_id"]}, timeout=60)
    if conv.status_code != 201:
        rec.error("POST /conversation", str(conv.status_code))
        return
    rec.ok("POST /conversation", time.perf_counter() - started)
    chat(s, url, lead, conv.json()["id"], rec)


def chat(s: requests.Session, url: str, auth: dict, conv_id: str, rec: Recorder) -> None:
    question = random.choice(QUESTIONS)
    with s.get(f"{url}/api/v1/conversation/{conv_id}/messages/stream", headers=auth, stream=True,
               timeout=(10, 120)) as stream:
        if stream.status_code != 200:
            rec.error("chat", f"stream {stream.status_code}")
            return
        lines = stream.iter_lines(decode_unicode=True)
        next(lines)  # the stream is open (first heartbeat block)
        started = time.perf_counter()
        resp = s.post(f"{url}/api/v1/conversation/{conv_id}/chat", headers=auth, json={"message": question},
                      timeout=60)
        if resp.status_code != 202:
            rec.error("chat", f"post {resp.status_code}")
            return
        message_id = resp.json().get("user_message", {}).get("id") or resp.json().get("message_id")
        for line in lines:
            if line == "event: chat_response":
                data = next(lines)
                if not message_id or message_id in data:
                    rec.ok("chat (POST -> answer)", time.perf_counter() - started)
                    return
    rec.error("chat", "stream ended without the answer")


def timed(rec: Recorder, route: str, call) -> None:
    started = time.perf_counter()
    try:
        resp = call()
    except requests.RequestException as exc:
        rec.error(route, type(exc).__name__)
        return
    if resp.status_code >= 400:
        rec.error(route, str(resp.status_code))
    else:
        rec.ok(route, time.perf_counter() - started)


def user(url: str, ctx: dict, deadline: float, rec: Recorder, seed: int) -> None:
    random.seed(seed)
    s = requests.Session()
    while time.time() < deadline:
        roll = random.random()
        try:
            if roll < 0.4:
                visitor(s, url, ctx, rec)
            elif roll < 0.9:
                route, path = random.choice((("GET /agent", "/api/v1/agent"), ("GET /document", "/api/v1/document"),
                                             ("GET /conversation", "/api/v1/conversation")))
                timed(rec, route, lambda: s.get(f"{url}{path}", headers=ctx["auth"], timeout=60))
            else:
                files = {"files": (f"note-{random.random()}.md", DOC.encode() + os.urandom(8).hex().encode(),
                                   "text/markdown")}
                timed(rec, "POST /document/upload", lambda: s.post(
                    f"{url}/api/v1/document/upload", headers=ctx["auth"], data={"agent_id": ctx["agent_id"]},
                    files=files, timeout=60))
        except (requests.RequestException, StopIteration) as exc:
            rec.error("chat", type(exc).__name__)


def run_mix(url: str, ctx: dict, users: int, duration: float) -> Recorder:
    rec = Recorder()
    deadline = time.time() + duration
    threads = [threading.Thread(target=user, args=(url, ctx, deadline, rec, i), daemon=True) for i in range(users)]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + 180)
    rec.elapsed = time.time() - started
    return rec


def print_mix(rec: Recorder) -> None:
    total = sum(len(v) for v in rec.samples.values())
    errors = sum(len(v) for v in rec.errors.values())
    print(f"mix: {total} requests in {rec.elapsed:.1f} s = {total / rec.elapsed:.1f} req/s, {errors} errors "
          f"{dict((k, len(v)) for k, v in rec.errors.items())}")
    everything = [x for v in rec.samples.values() for x in v]
    for route, values in sorted(rec.samples.items()) + [("all", everything)]:
        print(f"  {route:24s} n={len(values):6d}  {len(values) / rec.elapsed:7.1f}/s  "
              f"p50 {percentile(values, 50):7.1f} ms  p95 {percentile(values, 95):7.1f} ms  "
              f"p99 {percentile(values, 99):7.1f} ms")


def node_rss_mb(cluster, name: str) -> float:
    pid = cluster.pid(name)
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=24, help="0 skips the mix")
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--streams", type=int, default=10000)
    parser.add_argument("--hold", type=float, default=30)
    parser.add_argument("--rate", type=float, default=100.0, help="streams opened per second")
    parser.add_argument("--api-workers", type=int, default=1)
    args = parser.parse_args()
    from cluster import Cluster, raise_open_files
    from chat_streaming import hold_streams

    print(f"open files limit: {raise_open_files()}")

    print(f"machine: {os.cpu_count()} cores, load avg {os.getloadavg()[0]:.2f} at start (shared machine)")
    with tempfile.TemporaryDirectory(prefix="knowrithm-load-") as tmp:
        cluster = Cluster(Path(tmp), api_workers=args.api_workers, worker_connections=max(6000, args.streams),
                          extra_env={"SSE_HEARTBEAT_SECONDS": "5", "SSE_MAX_STREAMS_PER_COMPANY": "50000",
                                     "RATELIMIT_ENABLED": "false"})
        try:
            cluster.start()
            ctx = setup(cluster.url)
            print(f"topology: nginx -> 2 API nodes x {args.api_workers} gevent worker(s), pgBouncer (transaction) "
                  f"-> PostgreSQL, Redis, worker pools chat (threads 16) + ingest (prefork 2), beat")
            if args.users:
                rec = run_mix(cluster.url, ctx, args.users, args.duration)
                print_mix(rec)
                print(f"load avg after the mix: {os.getloadavg()[0]:.2f}")
            if args.streams:
                s = requests.Session()
                convs = [s.post(f"{cluster.url}/api/v1/conversation", headers=ctx["auth"],
                                json={"agent_id": ctx["agent_id"]}, timeout=60).json()["id"] for _ in range(50)]
                idle = {n: node_rss_mb(cluster, n) for n in ("api-a", "api-b")}
                measured = {}

                def measure():
                    measured.update({n: node_rss_mb(cluster, n) for n in ("api-a", "api-b")})
                    return sum(measured.values())

                result = asyncio.run(hold_streams(cluster.url, ctx["bearer"], convs, args.streams, args.hold, measure,
                                                  rate=args.rate))
                print(f"streams through nginx: {args.streams} opened in {result['open_seconds']} s, "
                      f"{result['connected']} connected, {result['alive']} still open after {args.hold:.0f} s, "
                      f"{result['healthy']} received >= {result['expected']} heartbeats in the hold, "
                      f"{result['errors']} errors")
                for n in ("api-a", "api-b"):
                    print(f"  {n}: RSS {idle[n]:.0f} MB idle -> {measured.get(n, 0):.0f} MB with the streams open")
                print(f"load avg after the streams: {os.getloadavg()[0]:.2f}")
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
