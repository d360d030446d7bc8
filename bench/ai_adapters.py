"""Offline embedding throughput/latency and adapter overhead over raw HTTP (loopback OpenAI server).

Run: .venv/bin/python bench/ai_adapters.py
"""
import json, statistics, sys, time, urllib.request
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
from tests.integrations.protocol_servers import API_KEY, OpenAIServer
from knowrithm.integrations.embeddings.base import EmbeddingConfig, get_embedder
from knowrithm.integrations.llm.base import ChatMessage, LLMConfig, get_adapter

def pct(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]

words = "refund policy shipping delivery pricing enterprise support office berlin plan customer invoice".split()
passages = [" ".join(words[(i + j) % len(words)] for j in range(25 + i % 30)) + f" item {i}." for i in range(1024)]
e = get_embedder("local", EmbeddingConfig(model="all-MiniLM-L6-v2", batch_size=64))
e.embed_documents(passages[:64])
t = time.perf_counter(); e.embed_documents(passages); dt = time.perf_counter() - t
print(f"local embed: {len(passages)/dt:.1f} passages/s (batch 64, {len(passages)} passages of 25-55 words)")
lat = []
for i in range(200):
    t = time.perf_counter(); e.embed_query(f"How long does a refund take for order {i}?"); lat.append((time.perf_counter() - t) * 1000)
print(f"local query latency: p50 {pct(lat,50):.2f} ms, p99 {pct(lat,99):.2f} ms")

with OpenAIServer() as s:
    msgs = [ChatMessage("user", "Hello there")]
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello there"}]}).encode()
    def raw():
        req = urllib.request.Request(s.base_url + "/chat/completions", data=body, headers={
            "Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r: json.loads(r.read())
    def adapter():
        get_adapter("openai", LLMConfig(model="gpt-4o-mini", api_key=API_KEY, base_url=s.base_url)).complete(msgs)
    for f in (raw, adapter):
        for _ in range(20): f()
    res = {}
    for name, f in (("raw", raw), ("adapter", adapter)):
        xs = []
        for _ in range(300):
            t = time.perf_counter(); f(); xs.append((time.perf_counter() - t) * 1000)
        res[name] = xs
        print(f"{name}: p50 {pct(xs,50):.2f} ms p99 {pct(xs,99):.2f} ms")
    print(f"adapter overhead: p50 {pct(res['adapter'],50)-pct(res['raw'],50):.2f} ms, p99 {pct(res['adapter'],99)-pct(res['raw'],99):.2f} ms")
