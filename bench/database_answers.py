"""Databases as live knowledge (BENCHMARKS.md): introspection of a 200-table schema, and the
end-to-end latency of a database answer in chat without model time.

    python bench/database_answers.py [--tables 200] [--questions 20]

1. Introspection: a fresh PostgreSQL database on 127.0.0.1:5432 (and a MariaDB one on :3306) with
   `--tables` tables (6 columns each, a foreign key to the previous table, 20 rows), analysed by the
   platform's connector exactly as `POST /database-connection/<id>/analyze` does (tables, columns,
   keys, row counts, sample values). Dropped afterwards.
2. Latency: `knowrithm up` (gunicorn, Celery, embedded stores), an agent with the offline answerer and
   a connection to the shop of tests/databases/shop.py on PostgreSQL; a client with an open SSE stream
   asks shop questions; latency = POST sent -> `chat_response` received, minus the model's time (the
   `model_ms` the engine records; the offline extractive answerer's share). The database part
   (`database_ms`: routing, SQL generation, validation, the query) is reported separately.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]
from client import create_agent, register, wait_task  # noqa: E402
from common import Platform, percentile  # noqa: E402

SERVERS = {"postgresql": ("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", '"', " WITH (FORCE)"),
           "mysql": ("mysql+pymysql://root@127.0.0.1:3306/", "`", "")}
QUESTIONS = ("How many orders did Dana place last month?", "Which product sold most in March?",
             "How many customers are in the USA?", "What is the total of paid orders?",
             "How many orders per country?")


class Database:
    """A throwaway database on a real server."""

    def __init__(self, kind: str, statements: list[str]):
        admin_url, self.quote, self.drop = SERVERS[kind]
        self.kind, self.name = kind, f"kn_bench_{uuid.uuid4().hex[:8]}"
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {self.quote}{self.name}{self.quote}"))
        base = admin_url.rsplit("/", 1)[0]
        self.url = f"{base}/{self.name}"
        self.public_url = self.url.replace("+psycopg", "").replace("+pymysql", "")
        engine = create_engine(self.url)
        with engine.begin() as conn:
            for stmt in statements:
                conn.execute(text(stmt))
        engine.dispose()

    def close(self):
        with self.admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {self.quote}{self.name}{self.quote}{self.drop}"))
        self.admin.dispose()


def wide_schema(n: int) -> list[str]:
    out = []
    for i in range(n):
        ref = f", parent_id INTEGER REFERENCES t{i - 1:03d}(id)" if i else ", parent_id INTEGER"
        out.append(f"CREATE TABLE t{i:03d} (id INTEGER PRIMARY KEY, name VARCHAR(40), status VARCHAR(10), "
                   f"amount NUMERIC(10,2), created_at TIMESTAMP{ref})")
        rows = ", ".join(f"({r}, 'row {r}', '{('open', 'closed')[r % 2]}', {r * 1.5}, '2026-01-{r % 28 + 1:02d}', "
                         f"{'NULL' if i == 0 else r})" for r in range(1, 21))
        out.append(f"INSERT INTO t{i:03d} VALUES {rows}")
    return out


def introspection(n: int) -> None:
    from knowrithm.integrations.databases import get_connector

    for kind in SERVERS:
        try:
            database = Database(kind, wide_schema(n))
        except Exception as exc:  # noqa: BLE001
            print(f"{kind}: no server ({exc})")
            continue
        try:
            times = []
            for _ in range(3):
                connector = get_connector(kind, database.public_url, {}, allow_private=True)
                started = time.perf_counter()
                tables = connector.introspect()
                times.append(time.perf_counter() - started)
            assert len(tables) == n and all(t.row_count == 20 for t in tables)
            print(f"introspection of {n} tables on {kind}: median {statistics.median(times):.2f} s "
                  f"(runs: {', '.join(f'{t:.2f}' for t in times)}), {sum(len(t.columns) for t in tables)} columns, "
                  f"{sum(len(t.foreign_keys) for t in tables)} foreign keys")
        finally:
            database.close()


def latency(n_questions: int) -> None:
    from tests.databases.shop import statements

    shop = Database("postgresql", statements("postgresql"))
    try:
        with tempfile.TemporaryDirectory(prefix="kn-bench-db-") as tmp, Platform(Path(tmp) / "data") as node:
            url = node.url
            s, _ = register(url)
            agent_id = create_agent(s, url, "Shop", status="active")
            created = s.post(f"{url}/api/v1/sdk/database", json={"name": "shop", "url": shop.public_url,
                                                                "database_type": "postgresql", "agent_id": agent_id})
            conn = created.json()["connection"]
            wait_task(s, url, s.post(f"{url}/api/v1/database-connection/{conn['id']}/analyze").json())
            conv_id = s.post(f"{url}/api/v1/conversation", json={"agent_id": agent_id}).json()["id"]
            stream = s.get(f"{url}/api/v1/conversation/{conv_id}/messages/stream", stream=True,
                           headers={"Accept": "text/event-stream"}, timeout=120)
            lines = stream.iter_lines(decode_unicode=True)
            overall, database_ms, model_ms = [], [], []
            for i in range(n_questions + 1):
                sent = time.perf_counter()
                ack = s.post(f"{url}/api/v1/conversation/{conv_id}/chat",
                             json={"message": QUESTIONS[i % len(QUESTIONS)]}).json()
                event = None
                for line in lines:
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "chat_response":
                        data = json.loads(line[6:])
                        if data["message_id"] == ack["message_id"]:
                            break
                received = time.perf_counter()
                timings = data["message"]["metadata"]["timings"]
                if i == 0:
                    continue  # warm-up: the first answer loads the embedder in the worker
                assert data["message"]["sources"] and data["message"]["sources"][-1]["type"] == "database"
                model = timings.get("model_ms") or 0.0
                overall.append((received - sent) * 1000 - model)
                database_ms.append(timings["database_ms"])
                model_ms.append(model)
            stream.close()
        print(f"database answer, POST -> chat_response minus model time, n={len(overall)}: median "
              f"{statistics.median(overall):.0f} ms, p95 {percentile(overall, 95):.0f} ms; of which database "
              f"(route, SQL, validate, query) median {statistics.median(database_ms):.0f} ms, p95 "
              f"{percentile(database_ms, 95):.0f} ms; model (offline extractive, excluded) median "
              f"{statistics.median(model_ms):.0f} ms")
    finally:
        shop.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", type=int, default=200)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    introspection(args.tables)
    if not args.skip_latency:
        latency(args.questions)


if __name__ == "__main__":
    main()
