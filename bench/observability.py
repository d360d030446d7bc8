"""Observability costs: request capture overhead, rollup time, dashboard queries at 1M rows.

    python bench/observability.py [--rows 1000000] [--requests 3000] [--queries 30]

An embedded PostgreSQL (pgvector) and an embedded Redis in a temporary folder.
1. Capture overhead: `--requests` GETs of an API-key route (`/api/v1/agent`) through the
   Flask test client, alternating in blocks between capture on (the metrics after-request hook
   and the request-log hook, which appends a record for the pushing thread) and capture off
   (both hooks removed): per-request latency percentiles of each, and the difference; then the
   two hooks alone, timed in place 2,000 times.
2. `--rows` request-log rows over 60 days for 20 companies (one of them holds 10%), inserted
   with generate_series; then one rollup run over the whole history, timed.
3. Dashboard queries for the big company, `--queries` times each, p50/p95: the API-usage
   overview, daily trends and top endpoints over 30 days (rollups + rows after the watermark),
   and the dashboard's session statistics (session and address rollups + the partial hours).
4. The support metrics on the dashboard path with `--unanswered` unanswered questions (the
   clustering embeds them): the first call (vectors not cached; the model already loaded) and
   then p50/p95 with the vectors cached; then the whole dashboard report, p50/p95.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def make_app(tmp: Path):
    from knowrithm.app import create_app
    from knowrithm.bootstrap import bootstrap
    from knowrithm.config import Settings
    from knowrithm.infra.embedded import EmbeddedPostgres, EmbeddedRedis

    pg, rd = EmbeddedPostgres(tmp / "pg"), EmbeddedRedis(tmp / "redis")
    settings = Settings(_env_file=None, SQLALCHEMY_DATABASE_URI=pg.start("knowrithm_bench"), REDIS_URL=rd.start(),
                        UPLOAD_FOLDER=str(tmp / "uploads"), SUPER_ADMIN_PASSWORD="bench-only-password-1",
                        LOG_JSON=False, LOG_LEVEL="WARNING", RATELIMIT_ENABLED=False)
    app = create_app(settings)
    with app.app_context():
        bootstrap(app)
    return app, pg, rd


def company_with_key(app, name: str):
    from knowrithm.domains.auth.api_keys import create_api_key
    from knowrithm.domains.auth.models import User
    from knowrithm.domains.companies.models import Company
    from knowrithm.infra.db import db

    with app.app_context():
        company = Company(name=name, email=f"{name.lower()}@bench.test")
        db.session.add(company)
        db.session.flush()
        user = User(company_id=company.id, email=f"admin@{name.lower()}.test", username=f"admin-{name.lower()}",
                    password_hash="x", role="admin", status="active", email_verified=True)
        db.session.add(user)
        db.session.commit()
        row, secret = create_api_key(user=user, name="bench", scopes=["full_access"])
        out = (company.id, user.id, row.key, secret)
        db.session.remove()
    return out


def capture_overhead(app, key: str, secret: str, requests: int) -> dict:
    from knowrithm.domains.auth import request_log
    from knowrithm.infra import metrics

    hooks = app.after_request_funcs[None]
    capture = [f for f in hooks if f.__name__ in ("_count", "_log_request")]
    assert len(capture) == 2, [f.__name__ for f in hooks]
    client = app.test_client()
    headers = {"X-API-Key": key, "X-API-Secret": secret}
    timings = {"on": [], "off": []}
    for _ in range(50):  # warm caches (key cache, SQL compilation)
        client.get("/api/v1/agent", headers=headers)
    block = 100
    for i in range(requests // block):
        mode = "on" if i % 2 == 0 else "off"
        app.after_request_funcs[None] = hooks if mode == "on" else [f for f in hooks if f not in capture]
        for _ in range(block):
            t = time.perf_counter()
            resp = client.get("/api/v1/agent", headers=headers)
            timings[mode].append((time.perf_counter() - t) * 1000)
            assert resp.status_code == 200
    app.after_request_funcs[None] = hooks
    # The hooks alone, timed in place (what a request pays for capture, without the noise of the rest).
    with app.test_request_context("/api/v1/agent", headers=headers):
        from flask import g

        from knowrithm.infra.auth import Principal

        g.started = time.perf_counter()
        g.principal = Principal(kind="api_key", company_id=None, user_id=None)
        resp = app.response_class("{}")
        alone = []
        for _ in range(2000):
            t = time.perf_counter()
            for hook in capture:
                hook(resp)
            alone.append((time.perf_counter() - t) * 1000)
    with app.app_context():
        request_log.flush()
    del metrics
    return {mode: {"p50": pct(v, 0.5), "p99": pct(v, 0.99), "n": len(v)} for mode, v in timings.items()} | {
        "hooks_alone": {"p50": pct(alone, 0.5), "p99": pct(alone, 0.99), "n": len(alone)}}


FILL = """
INSERT INTO api_request_logs (id, company_id, api_key_id, user_id, lead_id, auth_type, method, endpoint, status_code,
                              response_time_ms, ip_address, created_at)
SELECT gen_random_uuid(),
       CASE WHEN g % 10 = 0 THEN CAST(:big AS uuid) ELSE (CAST(:others AS uuid[]))[1 + g % 19] END,
       NULL, CAST(:user_id AS uuid), NULL, CASE WHEN g % 3 = 0 THEN 'lead' ELSE 'user' END, 'GET',
       '/api/v1/endpoint-' || (g % 40), CASE WHEN g % 50 = 0 THEN 500 WHEN g % 20 = 0 THEN 404 ELSE 200 END,
       (g % 97) * 1.7, '10.0.' || (g % 7) || '.' || (g % 200),
       now() - make_interval(secs => (g::float8 / :rows) * 60 * 86400)
FROM generate_series(1, :rows) AS g
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--unanswered", type=int, default=300)
    args = parser.parse_args()
    print("load:", os.popen("uptime").read().strip())
    with tempfile.TemporaryDirectory(prefix="knowrithm-bench-obs-") as d:
        app, pg, rd = make_app(Path(d))
        try:
            run(app, args)
        finally:
            rd.stop()
            pg.stop()
    return 0


def run(app, args) -> None:
    from sqlalchemy import text

    from knowrithm.domains.analytics import activity, api_usage
    from knowrithm.domains.analytics.rollups import roll_up
    from knowrithm.infra.db import db, utcnow
    from knowrithm.infra.tenancy import company_scope

    big, user_id, key, secret = company_with_key(app, "Big")
    others = [company_with_key(app, f"Other{i}")[0] for i in range(19)]
    overhead = capture_overhead(app, key, secret, args.requests)
    for mode in ("on", "off"):
        o = overhead[mode]
        print(f"request with capture {mode:>3}: p50 {o['p50']:.3f} ms  p99 {o['p99']:.3f} ms  (n={o['n']})")
    print(f"difference: p50 {overhead['on']['p50'] - overhead['off']['p50']:+.3f} ms  "
          f"p99 {overhead['on']['p99'] - overhead['off']['p99']:+.3f} ms")
    h = overhead["hooks_alone"]
    print(f"capture hooks alone (metrics + request-log record): p50 {h['p50']:.3f} ms  p99 {h['p99']:.3f} ms")

    with app.app_context():
        t = time.perf_counter()
        db.session.execute(text(FILL), {"big": str(big), "others": "{" + ",".join(map(str, others)) + "}",
                                        "user_id": str(user_id), "rows": args.rows})
        db.session.commit()
        db.session.execute(text("ANALYZE api_request_logs"))
        db.session.commit()
        print(f"inserted {args.rows:,} request-log rows in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        runs = 0
        while True:  # a first run catches up a month at a time
            out = roll_up()
            runs += 1
            if out.get("hours", 0) == 0 or runs > 5:
                break
        rollup_s = time.perf_counter() - t
        count = db.session.execute(text("SELECT granularity, count(*) FROM api_usage_rollups GROUP BY 1")).all()
        print(f"rollup of {args.rows:,} rows: {rollup_s:.2f} s in {runs} runs -> {dict(count)}")
        t = time.perf_counter()
        roll_up()
        print(f"an hourly rollup run once caught up: {(time.perf_counter() - t) * 1000:.1f} ms")
        db.session.remove()

    queries = {
        "overview (30 days)": lambda: api_usage.overview(company_id=big, days=30),
        "usage trends daily (30 days)": lambda: api_usage.usage_trends(company_id=big, days=30, granularity="daily"),
        "top endpoints (30 days)": lambda: api_usage.top_endpoints(company_id=big, days=30, limit=10),
        "session statistics (30 days, rollups)": lambda: activity.session_stats(
            big, utcnow() - __import__("datetime").timedelta(days=30), utcnow()),
    }
    with app.app_context(), company_scope(big):
        for label, query in queries.items():
            timed(label, query, args.queries)
    support_path(app, big, args)


def timed(label: str, query, runs: int) -> None:
    """One warm-up call, then `runs` timed calls (each ends its transaction, as a request does)."""
    from knowrithm.infra.db import db

    query()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        query()
        times.append((time.perf_counter() - t) * 1000)
        db.session.rollback()
    print(f"{label}: p50 {statistics.median(times):.1f} ms  p95 {pct(times, 0.95):.1f} ms  (n={len(times)})")


QUESTIONS = ["Do you ship to {}?", "What does shipping to {} cost?", "Is there a store in {}?",
             "Can I pay in the currency of {}?", "How long does delivery to {} take?"]
PLACES = ["Mars", "Lisbon", "Nairobi", "Osaka", "Lima", "Quebec", "Hanoi", "Oslo", "Cairo", "Perth", "Bogota",
          "Tallinn", "Accra", "Dhaka", "Seoul", "Quito", "Riga", "Tunis", "Sofia", "Manila"]


def support_path(app, company_id, args) -> None:
    """Unanswered questions for the big company, then the support metrics and the whole
    dashboard as the dashboard route runs them."""
    from datetime import timedelta

    from sqlalchemy import text

    from knowrithm.domains.agents.models import Agent
    from knowrithm.domains.analytics import support
    from knowrithm.domains.analytics.reports.dashboard import dashboard
    from knowrithm.domains.conversations.models import Conversation, Message
    from knowrithm.infra.db import db, utcnow
    from knowrithm.infra.tenancy import company_scope

    texts = [QUESTIONS[i % len(QUESTIONS)].format(PLACES[(i // len(QUESTIONS)) % len(PLACES)]) + f" (order {i})"
             for i in range(args.unanswered)]
    with app.app_context(), company_scope(company_id):
        agent = Agent(company_id=company_id, name="Bench", status="active")
        db.session.add(agent)
        db.session.flush()
        now = utcnow()
        for i, question in enumerate(texts):
            conv = Conversation(company_id=company_id, agent_id=agent.id, title=f"c{i}", message_count=2,
                                created_at=now - timedelta(minutes=i))
            db.session.add(conv)
            db.session.flush()
            q = Message(company_id=company_id, conversation_id=conv.id, agent_id=agent.id, role="user",
                        content=question, created_at=now - timedelta(minutes=i))
            db.session.add(q)
            db.session.flush()
            db.session.add(Message(company_id=company_id, conversation_id=conv.id, agent_id=agent.id,
                                   role="assistant", content="I don't know.", answered=False, reply_to_id=q.id,
                                   processing_time=0.1, created_at=now - timedelta(minutes=i) + timedelta(seconds=1)))
        db.session.commit()
        db.session.execute(text("ANALYZE conversations; ANALYZE messages"))  # as autovacuum would soon
        db.session.commit()
        support._embed(["warm the model"])  # the model's one-time load is not the report's cost
        since = utcnow() - timedelta(days=30)
        t = time.perf_counter()
        out = support.support_metrics(since, utcnow())
        cold = (time.perf_counter() - t) * 1000
        print(f"support metrics, {args.unanswered} unanswered questions, vectors not cached: {cold:.1f} ms "
              f"({len(out['unanswered_questions'])} clusters shown)")
        timed("support metrics, vectors cached", lambda: support.support_metrics(since, utcnow()), args.queries)
        timed("whole dashboard report (dashboard())", lambda: dashboard(company_id), args.queries)


if __name__ == "__main__":
    raise SystemExit(main())
