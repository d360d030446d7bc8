"""Chat overhead and SSE capacity on one node (BENCHMARKS.md).

    python bench/chat_streaming.py [--worker-class gevent|gthread] [--workers split|single]
        [--levels 1,10,50] [--conversations 1,10,50] [--duration 30] [--streams 5000]

Starts embedded PostgreSQL + Redis, gunicorn (the worker class under test), Celery and a local
OpenAI-compatible server that streams a fixed answer after `--model-delay` ms. Celery runs as
`--workers split` (default, the recommended layout): one worker for `critical` (chat answers) with a
thread pool, since an answer mostly waits on the model and the database, plus a prefork worker for
the other queues; `single` is one prefork x4 worker on every queue (the earlier layout).

overhead = (first answer event seen by the client) - (POST sent) - (model time to its first token,
which the engine records in the reply's metadata.timings), with the offline default model and with
the fake OpenAI-compatible model, under two loads:

1. Burst (`--levels`): N conversations each hold an open SSE stream and all N visitors POST /chat at
   the same instant, repeated until `--samples` answers. A worst case: N answers' CPU arrives at once.
2. Conversations (`--conversations`): N visitors each open a conversation and its stream once, then
   for `--duration` seconds ask a question, read the whole answer, think 2-5 s (`--think`) and ask
   the next one; the first question comes after a random part of a think time. This is what "N
   concurrent conversations" means for a chat widget, and what the issue-6 target is judged on.
3. Capacity (`--streams`): concurrent SSE connections (asyncio client) with 5 s heartbeats, held
   for `--hold` seconds; counts streams that kept receiving heartbeats and the API's RSS.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
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
from client import wait_task  # noqa: E402
from common import free_port, percentile  # noqa: E402

DOC = ("# Refund policy\n\nRefunds are processed within five business days after we receive the returned item. "
       "Shipping costs are not refunded.\n\n# Support\n\nThe support desk is open Monday to Friday, 9am to 5pm.\n")
QUESTION = "How long do refunds take?"
# The conversations load asks these in turn (all answered by DOC, with different passages and words).
# The last one shares no word with DOC: the offline answerer's semantic pass picks the sentence.
QUESTIONS = (QUESTION, "Are shipping costs refunded?", "When is the support desk open?",
             "What days can I reach support?", "How many business days until I get my refund?",
             "Can I get my money back?")
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

    class Server(ThreadingHTTPServer):
        request_queue_size = 1024  # the default backlog of 5 resets connections in a burst of 50
        daemon_threads = True

    server = Server(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- the platform ---------------------------------------------------------------------------------

class Node:
    def __init__(self, root: Path, worker_class: str, api_workers: int, workers: str = "split",
                 critical_threads: int = 32):
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
        self.workers, self.critical_threads = workers, critical_threads
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
        celery = [py, "-m", "celery", "-A", "knowrithm.worker", "worker", "--loglevel", "WARNING",
                  "--without-mingle", "--without-gossip"]
        if self.workers == "split":
            from knowrithm.worker import CRITICAL_WORKER_ARGS, OTHER_QUEUES

            critical = [*CRITICAL_WORKER_ARGS[:-1], str(self.critical_threads)]
            layout = [[*critical, "-n", f"critical@{self.port}"],
                      ["-Q", OTHER_QUEUES, "--concurrency", "2", "-n", f"bench@{self.port}"]]
        else:
            layout = [["-Q", "critical,default,slow,low", "--concurrency", "4", "-n", f"bench@{self.port}"]]
        for args in layout:
            self.procs.append(subprocess.Popen([*celery, *args], env=self.env, cwd=self.root, stdout=log,
                                               stderr=subprocess.STDOUT))
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


def _tree_cpu(root: psutil.Process) -> float:
    """CPU seconds of a process, its live descendants and the children it has reaped (PostgreSQL
    backends and overflow connections come and go)."""
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + (t.children_user + t.children_system if p is root else 0.0)
    return total


def cpu_by_role(node: "Node") -> dict[str, float]:
    """CPU time so far of each part of this node (and this client), to see where an answer's time goes."""
    out = {"api": _tree_cpu(psutil.Process(node.procs[0].pid)),
           "worker": sum(_tree_cpu(psutil.Process(p.pid)) for p in node.procs[1:]),
           "postgres": _tree_cpu(psutil.Process(node.pg.pid)),
           "redis": _tree_cpu(psutil.Process(node.redis.process.pid))}
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


# --- 1. overhead ---------------------------------------------------------------------------------

def overheads(s: requests.Session, url: str, auth: dict, answers: list[tuple[str, str, float, float]]) -> list[float]:
    """(conversation, user message, POST sent, first answer event seen) -> overhead in ms: the time
    to the first answer event minus the model's own time to its first token (metadata.timings)."""
    replies: dict[str, dict] = {}
    for conv_id in {a[0] for a in answers}:
        for _ in range(10):  # the reply row lands just after its first event: poll briefly
            messages = s.get(f"{url}/api/v1/conversation/{conv_id}/messages", headers=auth,
                             params={"per_page": 100}).json()["messages"]
            got = {m["reply_to_id"]: m for m in messages if m["role"] == "assistant"}
            if all(a[1] in got for a in answers if a[0] == conv_id):
                break
            time.sleep(0.5)
        replies.update(got)
    out = []
    for conv_id, message_id, sent, seen in answers:
        reply = replies.get(message_id)
        if reply is None:
            continue
        timings = reply["metadata"].get("timings") or {}
        model_ms = timings.get("model_first_token_ms") or 0.0
        out.append((seen - sent) * 1000 - model_ms)
        if os.environ.get("BENCH_VERBOSE"):
            print("   ", {k: timings.get(k) for k in ("queue_ms", "retrieval_ms", "setup_ms", "first_delta_ms",
                                                      "model_first_token_ms")},
                  "processing_time", reply["processing_time"], "seen", round((seen - sent) * 1000))
    return out


def first_answer_event(lines, message_id: str, until_response: bool = False) -> float:
    """When the first chat_delta/chat_response of `message_id` arrived (perf_counter); with
    `until_response`, keeps reading until the whole answer is in, as a visitor would."""
    event, first = None, None
    for line in lines:
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:") and event in ("chat_delta", "chat_response"):
            if json.loads(line[5:]).get("message_id") != message_id:
                continue
            first = first or time.perf_counter()
            if not until_response or event == "chat_response":
                return first
    raise RuntimeError("the stream ended before the answer")


def overhead_round(url: str, auth: dict, agent_id: str, n: int) -> list[float]:
    """Burst: N streams open, then N visitors POST at the same instant."""
    s = requests.Session()
    convs = [s.post(f"{url}/api/v1/conversation", headers=auth, json={"agent_id": agent_id}).json()["id"]
             for _ in range(n)]
    connected = threading.Barrier(n + 1)
    go = threading.Event()
    answers: list[tuple[str, str, float, float]] = []

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
            answers.append((conv_id, ack["message_id"], sent, first_answer_event(lines, ack["message_id"])))

    threads = [threading.Thread(target=visitor, args=(c,)) for c in convs]
    for t in threads:
        t.start()
    connected.wait()
    go.set()
    for t in threads:
        t.join(120)
    return overheads(s, url, auth, answers)


def conversations_load(url: str, auth: dict, agent_id: str, n: int, duration: float,
                       think: tuple[float, float], cpu) -> tuple[list[float], float, dict]:
    """N visitors in open conversations for `duration` s: ask, read the whole answer, think, ask again.

    Returns the overheads, the answers per second and the CPU seconds per answer of each part of
    the node while the visitors talked (`cpu()` snapshots; opening the conversations and reading the
    timings back afterwards are not counted)."""
    s = requests.Session()
    convs = [s.post(f"{url}/api/v1/conversation", headers=auth, json={"agent_id": agent_id}).json()["id"]
             for _ in range(n)]
    connected = threading.Barrier(n + 1)
    answers: list[tuple[str, str, float, float]] = []

    def visitor(i: int, conv_id: str) -> None:
        rnd = random.Random(i)
        browser = requests.Session()  # keep-alive, like a widget in a browser
        with browser.get(f"{url}/api/v1/conversation/{conv_id}/messages/stream", headers=auth, stream=True,
                         timeout=120) as resp:
            lines = resp.iter_lines(decode_unicode=True)
            next(line for line in lines if line.startswith("data:"))
            connected.wait()
            end = time.perf_counter() + duration
            time.sleep(rnd.uniform(0, think[1]))
            turn = i
            while time.perf_counter() < end:
                sent = time.perf_counter()
                ack = browser.post(f"{url}/api/v1/conversation/{conv_id}/chat", headers=auth,
                                   json={"message": QUESTIONS[turn % len(QUESTIONS)]}).json()
                seen = first_answer_event(lines, ack["message_id"], until_response=True)
                answers.append((conv_id, ack["message_id"], sent, seen))
                turn += 1
                time.sleep(rnd.uniform(*think))

    threads = [threading.Thread(target=visitor, args=(i, c)) for i, c in enumerate(convs)]
    for t in threads:
        t.start()
    connected.wait()
    started, cpu_before = time.perf_counter(), cpu()
    for t in threads:
        t.join(duration + 120)
    rate = len(answers) / (time.perf_counter() - started)
    cpu_after = cpu()
    per_answer = {k: (cpu_after[k] - cpu_before.get(k, 0.0)) / max(len(answers), 1) for k in cpu_after}
    return overheads(s, url, auth, answers), rate, per_answer


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


def report(label: str, samples: list[float], extra: str = "") -> None:
    if not samples:
        print(f"{label}: no answers")
        return
    print(f"{label}: p50 {statistics.median(samples):7.1f} ms  p95 {percentile(samples, 95):7.1f} ms  "
          f"(n={len(samples)}{extra})", flush=True)


def cpu_text(per_answer: dict) -> str:
    node = sum(v for k, v in per_answer.items() if k != "bench_client")
    return (f"CPU ms/answer: node {node * 1000:.1f} ("
            + ", ".join(f"{k} {v * 1000:.1f}" for k, v in per_answer.items() if k != "bench_client")
            + f"), bench client {per_answer['bench_client'] * 1000:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker-class", default="gevent", choices=("gevent", "gthread"))
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--workers", default="split", choices=("split", "single"),
                        help="split: critical on a thread-pool worker + prefork x2 for the rest; single: prefork x4")
    parser.add_argument("--critical-threads", type=int, default=32, help="thread pool of the critical worker")
    parser.add_argument("--models", default="offline,openai-compatible")
    parser.add_argument("--levels", default="1,10,50", help="burst sizes ('' skips the burst)")
    parser.add_argument("--samples", type=int, default=50, help="samples per burst size")
    parser.add_argument("--conversations", default="1,10,50", help="concurrent conversations ('' skips)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per conversations level")
    parser.add_argument("--think", default="2,5", help="visitor think time range in seconds")
    parser.add_argument("--model-delay", type=int, default=300, help="ms before the fake model's first token")
    parser.add_argument("--streams", type=int, default=5000, help="0 skips the capacity test")
    parser.add_argument("--hold", type=float, default=30.0)
    args = parser.parse_args()
    think = tuple(float(x) for x in args.think.split(","))
    levels = [int(x) for x in args.levels.split(",") if x]
    conversations = [int(x) for x in args.conversations.split(",") if x]
    with tempfile.TemporaryDirectory(prefix="knowrithm-bench-chat-") as tmp:
        fake = fake_openai(args.model_delay)
        node = Node(Path(tmp), args.worker_class, args.api_workers, args.workers, args.critical_threads)
        try:
            node.start()
            auth, agents = setup(node.url, f"http://127.0.0.1:{fake.server_port}")
            layout = (f"celery critical: threads x{args.critical_threads} + prefork x2 for the rest"
                      if args.workers == "split" else "celery prefork x4 on every queue")
            print(f"node: gunicorn {args.worker_class} x{args.api_workers}, {layout}, {psutil.cpu_count()} CPUs; "
                  f"load avg {os.getloadavg()[0]:.2f} at start", flush=True)
            for name in args.models.split(","):
                agent_id = agents[name]
                overhead_round(node.url, auth, agent_id, 1)  # warm-up (model load, pools)
                for n in levels:
                    samples: list[float] = []
                    while len(samples) < args.samples:
                        samples += overhead_round(node.url, auth, agent_id, n)
                    report(f"burst         {name:18s} {n:3d} at once", samples,
                           f", load avg {os.getloadavg()[0]:.2f}")
                for n in conversations:
                    samples, rate, cpu = conversations_load(node.url, auth, agent_id, n, args.duration, think,
                                                            lambda: cpu_by_role(node))
                    report(f"conversations {name:18s} {n:3d} open   ", samples,
                           f", {rate:.1f} answers/s, load avg {os.getloadavg()[0]:.2f}; {cpu_text(cpu)}")
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
