"""Chat overhead and SSE capacity on one node (issue 6, "Measured").

    python bench/chat_streaming.py [--worker-class gevent|gthread] [--levels 1,10,50] [--streams 5000]

Starts embedded PostgreSQL + Redis, gunicorn (the worker class under test), a Celery worker
and a local OpenAI-compatible server that streams a fixed answer after `--model-delay` ms.

1. Overhead: N conversations each hold an open SSE stream; N visitors POST /chat at once.
   overhead = (first answer event seen by the client) - (POST sent) - (model time to its
   first token, which the engine records in the reply's metadata.timings). Measured with
   the offline default model and with the fake OpenAI-compatible model.
2. Capacity: `--streams` concurrent SSE connections (asyncio client) with 5 s heartbeats,
   held for `--hold` seconds; counts streams that kept receiving heartbeats and the API's RSS.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port, percentile  # noqa: E402

DOC = ("# Refund policy\n\nRefunds are processed within five business days after we receive the returned item. "
       "Shipping costs are not refunded.\n\n# Support\n\nThe support desk is open Monday to Friday, 9am to 5pm.\n")
QUESTION = "How long do refunds take?"
FAKE_ANSWER = "Refunds take five business days [Source 1]."
BOOTSTRAP = ("from knowrithm.app import create_app; from knowrithm.bootstrap import bootstrap; app = create_app(); "
             "ctx = app.app_context(); ctx.push(); bootstrap(app)")


# --- a local OpenAI-compatible server that streams a fixed answer after a delay -------------------

def fake_openai(delay_ms: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(delay_ms / 1000)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            words = FAKE_ANSWER.split(" ")
            for i, word in enumerate(words):
                chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                         "choices": [{"index": 0, "delta": {"content": word + (" " if i < len(words) - 1 else "")},
                                      "finish_reason": None}]}
                self._chunk(f"data: {json.dumps(chunk)}\n\n")
            done = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 50, "completion_tokens": 8, "total_tokens": 58}}
            self._chunk(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")

        def _chunk(self, text: str) -> None:
            data = text.encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- the platform ---------------------------------------------------------------------------------

class Node:
    def __init__(self, root: Path, worker_class: str, api_workers: int):
        from knowrithm.infra.embedded import EmbeddedPostgres, EmbeddedRedis, load_or_create_secrets

        self.root = root
        self.pg, self.redis = EmbeddedPostgres(root / "pg"), EmbeddedRedis(root / "redis")
        secrets = load_or_create_secrets(root / "secrets.env")
        self.env = {**os.environ, **{k: secrets[k] for k in ("SECRET_KEY", "JWT_SECRET_KEY", "ENCRYPTION_KEY",
                                                                 "SUPER_ADMIN_PASSWORD")},
                    "SQLALCHEMY_DATABASE_URI": self.pg.start(), "REDIS_URL": self.redis.start(),
                    "UPLOAD_FOLDER": str(root / "uploads"), "LOG_LEVEL": "WARNING", "RATELIMIT_ENABLED": "false",
                    "SSE_HEARTBEAT_SECONDS": "5", "SSE_MAX_STREAMS_PER_COMPANY": "1000000"}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.worker_class, self.api_workers = worker_class, api_workers
        self.procs: list[subprocess.Popen] = []

    def start(self) -> None:
        py = sys.executable
        subprocess.run([py, "-c", BOOTSTRAP], env=self.env, check=True,
                       cwd=self.root, stdout=subprocess.DEVNULL)
        kind = (["--worker-class", "gevent", "--worker-connections", "20000"] if self.worker_class == "gevent"
                else ["--worker-class", "gthread", "--threads", "16"])
        log = open(self.root / "node.log", "wb")
        self.procs.append(subprocess.Popen([py, "-m", "gunicorn", "knowrithm.wsgi:app", "--bind",
                                            f"127.0.0.1:{self.port}", "--workers", str(self.api_workers), *kind,
                                            "--timeout", "120", "--backlog", "8192"],
                                           env=self.env, cwd=self.root, stdout=log, stderr=subprocess.STDOUT))
        self.procs.append(subprocess.Popen([py, "-m", "celery", "-A", "knowrithm.worker", "worker", "-Q",
                                            "critical,default,slow,low", "--concurrency", "4", "--loglevel",
                                            "WARNING", "-n", f"bench@{self.port}"],
                                           env=self.env, cwd=self.root, stdout=log, stderr=subprocess.STDOUT))
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                if requests.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"the node did not become healthy; see {self.root / 'node.log'}")

    def api_rss_mb(self) -> float:
        gunicorn = psutil.Process(self.procs[0].pid)
        procs = [gunicorn, *gunicorn.children(recursive=True)]
        return sum(p.memory_info().rss for p in procs) / 2**20

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.redis.stop()
        self.pg.stop()


def cpu_by_role(node: "Node") -> dict[str, float]:
    """CPU time so far of each part of the node (and this client), to see where an answer's time goes."""
    roles = {"api": psutil.Process(node.procs[0].pid), "worker": psutil.Process(node.procs[1].pid)}
    out: dict[str, float] = {}
    for role, root in roles.items():
        for p in [root, *root.children(recursive=True)]:
            t = p.cpu_times()
            out[role] = out.get(role, 0.0) + t.user + t.system
    for p in psutil.process_iter(["name"]):
        name = p.info["name"] or ""
        if name.startswith(("postgres", "redis")):
            try:
                t = p.cpu_times()
            except psutil.Error:
                continue
            key = "postgres" if name.startswith("postgres") else "redis"
            out[key] = out.get(key, 0.0) + t.user + t.system
    t = psutil.Process().cpu_times()
    out["bench_client"] = t.user + t.system
    return out


def setup(url: str, fake_base: str) -> tuple[dict, dict]:
    s = requests.Session()
    reg = s.post(f"{url}/api/v1/auth/register", json={"first_name": "Bench", "last_name": "Mark",
                                                      "email": "bench@bench.test", "password": "Bench-Pass-123!",
                                                      "company_name": "Bench Co", "accept_terms": True}).json()
    auth = {"Authorization": f"Bearer {reg['access_token']}"}
    agents = {}
    for name in ("offline", "openai-compatible"):
        ack = s.post(f"{url}/api/v1/agent", headers=auth, json={"name": f"Bench {name}"}).json()
        agents[name] = wait_task(s, url, ack)["agent"]["id"]
    ack = s.post(f"{url}/api/v1/sdk/settings", headers=auth, json={
        "agent_id": agents["openai-compatible"], "llm_provider": "ollama", "llm_model": "llama3.1",
        "llm_api_base_url": f"{fake_base}/v1", "embedding_provider": "knowrithm",
        "embedding_model": "all-MiniLM-L6-v2"}).json()
    wait_task(s, url, ack)
    for agent_id in agents.values():
        files = {"files": ("policy.md", DOC.encode(), "text/markdown")}
        s.post(f"{url}/api/v1/document/upload", headers=auth, data={"agent_id": agent_id}, files=files)
    deadline = time.time() + 120
    while time.time() < deadline:
        docs = s.get(f"{url}/api/v1/document", headers=auth, params={"per_page": 100}).json()["documents"]
        if len(docs) == 2 and all(d["status"] == "processed" for d in docs):
            break
        time.sleep(0.5)
    return auth, agents


def wait_task(s, url, ack, timeout=60):
    if "status_url" not in ack:
        return ack
    deadline = time.time() + timeout
    while time.time() < deadline:
        body = s.get(url + ack["status_url"]).json()
        if body["status"] in ("completed", "failed"):
            if body["status"] == "failed":
                raise RuntimeError(body)
            return body["result"]
        time.sleep(0.2)
    raise RuntimeError("task timeout")


# --- 1. overhead -----------------------------------------------------------------------------------

def overhead_round(url: str, auth: dict, agent_id: str, n: int) -> list[float]:
    s = requests.Session()
    convs = [s.post(f"{url}/api/v1/conversation", headers=auth, json={"agent_id": agent_id}).json()["id"]
             for _ in range(n)]
    first_seen: dict[str, float] = {}
    connected = threading.Barrier(n + 1)
    go = threading.Event()
    posted: dict[str, tuple[float, str]] = {}

    def visitor(conv_id: str) -> None:
        with requests.get(f"{url}/api/v1/conversation/{conv_id}/messages/stream", headers=auth, stream=True,
                          timeout=120) as resp:
            lines = resp.iter_lines(decode_unicode=True)
            next(line for line in lines if line.startswith("data:"))  # the "connected" event
            connected.wait()
            go.wait()
            sent = time.perf_counter()
            ack = requests.post(f"{url}/api/v1/conversation/{conv_id}/chat", headers=auth,
                                json={"message": QUESTION}).json()
            posted[conv_id] = (sent, ack["message_id"])
            event = None
            for line in lines:
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event in ("chat_delta", "chat_response"):
                    data = json.loads(line[5:])
                    if data.get("message_id") == ack["message_id"]:
                        first_seen[conv_id] = time.perf_counter()
                        return

    threads = [threading.Thread(target=visitor, args=(c,)) for c in convs]
    for t in threads:
        t.start()
    connected.wait()
    go.set()
    for t in threads:
        t.join(120)
    out = []
    for conv_id in convs:
        if conv_id not in first_seen:
            continue
        sent, message_id = posted[conv_id]
        messages = s.get(f"{url}/api/v1/conversation/{conv_id}/messages", headers=auth).json()["messages"]
        reply = next((m for m in messages if m["reply_to_id"] == message_id), None)
        if reply is None:
            time.sleep(0.5)
            messages = s.get(f"{url}/api/v1/conversation/{conv_id}/messages", headers=auth).json()["messages"]
            reply = next(m for m in messages if m["reply_to_id"] == message_id)
        timings = reply["metadata"].get("timings") or {}
        model_ms = timings.get("model_first_token_ms") or 0.0
        out.append((first_seen[conv_id] - sent) * 1000 - model_ms)
        if os.environ.get("BENCH_VERBOSE"):
            print("   ", {k: timings.get(k) for k in ("queue_ms", "retrieval_ms", "model_first_token_ms")},
                  "processing_time", reply["processing_time"], "seen", round((first_seen[conv_id] - sent) * 1000))
    return out


# --- 2. capacity -----------------------------------------------------------------------------------

async def hold_streams(url: str, auth: dict, conv_ids: list[str], total: int, hold: float, measure,
                       rate: float = 100.0, heartbeat: float = 5.0) -> dict:
    """Open `total` streams at `rate` per second, wait until each got its first event, then hold
    them for `hold` seconds and count the heartbeats every stream received in that window."""
    host, port = url.split("//")[1].split(":")
    beats = [0] * total
    connected = [False] * total
    errors = [0]

    async def one(i: int) -> None:
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
            conv = conv_ids[i % len(conv_ids)]
            writer.write((f"GET /api/v1/conversation/{conv}/messages/stream HTTP/1.1\r\nHost: {host}\r\n"
                          f"Authorization: {auth['Authorization']}\r\nAccept: text/event-stream\r\n\r\n").encode())
            await writer.drain()
            status = await reader.readline()
            if b" 200 " not in status:
                errors[0] += 1
                return
            while True:
                line = await reader.readline()
                if not line:
                    errors[0] += 1
                    return
                if line.startswith(b"event: heartbeat"):
                    connected[i] = True
                    beats[i] += 1
        except (OSError, asyncio.IncompleteReadError):
            errors[0] += 1

    started = time.time()
    tasks = []
    for i in range(total):
        tasks.append(asyncio.create_task(one(i)))
        await asyncio.sleep(1 / rate)
    while sum(connected) < total and time.time() - started < total / rate + 120:
        await asyncio.sleep(0.5)
    open_seconds = time.time() - started
    before = list(beats)
    await asyncio.sleep(hold)
    window = [b - a for a, b in zip(before, beats)]
    alive = sum(1 for t in tasks if not t.done())
    rss = measure()
    for t in tasks:
        t.cancel()
    expected = int(hold // heartbeat) - 1
    if os.environ.get("BENCH_VERBOSE"):
        from collections import Counter
        print("heartbeats per stream in the window:", sorted(Counter(window).items()))
    return {"connected": sum(connected), "alive": alive, "healthy": sum(1 for w in window if w >= expected),
            "expected": expected, "errors": errors[0], "open_seconds": round(open_seconds, 1), "rss_mb": rss}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker-class", default="gevent", choices=("gevent", "gthread"))
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--levels", default="1,10,50")
    parser.add_argument("--samples", type=int, default=50, help="samples per concurrency level")
    parser.add_argument("--model-delay", type=int, default=300, help="ms before the fake model's first token")
    parser.add_argument("--streams", type=int, default=5000)
    parser.add_argument("--hold", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="knowrithm-bench-chat-") as tmp:
        fake = fake_openai(args.model_delay)
        node = Node(Path(tmp), args.worker_class, args.api_workers)
        try:
            node.start()
            auth, agents = setup(node.url, f"http://127.0.0.1:{fake.server_port}")
            print(f"node: gunicorn {args.worker_class} x{args.api_workers}, celery prefork x4, "
                  f"{psutil.cpu_count()} CPUs")
            for name, agent_id in (agents.items() if args.levels else ()):
                overhead_round(node.url, auth, agent_id, 1)  # warm-up (model load, pools)
                for n in (int(x) for x in args.levels.split(",")):
                    samples: list[float] = []
                    cpu_before = cpu_by_role(node)
                    while len(samples) < args.samples:
                        samples += overhead_round(node.url, auth, agent_id, n)
                    if os.environ.get("BENCH_VERBOSE"):
                        after = cpu_by_role(node)
                        print("    CPU seconds per answer:", {k: round((after[k] - cpu_before.get(k, 0)) / len(samples), 4)
                                                           for k in after})
                    print(f"overhead {name:18s} concurrency {n:3d}: p50 {statistics.median(samples):7.1f} ms  "
                          f"p95 {percentile(samples, 95):7.1f} ms  (n={len(samples)})")
            if args.streams:
                s = requests.Session()
                convs = [s.post(f"{node.url}/api/v1/conversation", headers=auth,
                                json={"agent_id": agents["offline"]}).json()["id"] for _ in range(50)]
                before = node.api_rss_mb()
                result = asyncio.run(hold_streams(node.url, auth, convs, args.streams, args.hold, node.api_rss_mb))
                print(f"streams: {args.streams} opened in {result['open_seconds']} s, {result['connected']} connected, "
                      f"{result['alive']} still open after a {args.hold:.0f} s hold, {result['healthy']} received "
                      f">= {result['expected']} heartbeats (5 s interval) in the hold, {result['errors']} errors; "
                      f"API RSS {before:.0f} MB idle -> {result['rss_mb']:.0f} MB with the streams open")
        finally:
            if os.environ.get("BENCH_VERBOSE") and (Path(tmp) / "node.log").exists():
                print((Path(tmp) / "node.log").read_text(errors="replace")[-6000:])
            node.stop()
            fake.shutdown()


if __name__ == "__main__":
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    main()
