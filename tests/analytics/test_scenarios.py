"""Analytics from a script: two companies get different, known activity; every analytics and
API-usage report then shows exactly those numbers, never the other company's, and no numeric
field reads the same for both (unless the allow-list below explains why)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import requests

from tests.conftest import make_api_key


@dataclass
class Turn:
    question: str
    seconds: float  # the reply's processing time
    rating: int | None  # the visitor's 1-5 rating of the conversation
    thumb: str | None  # "up" / "down" on the reply
    answered: bool
    prompt_tokens: int
    completion_tokens: int
    cites: str | None
    confidence: float
    extra_unanswered: str | None = None  # a second question in the same conversation, unanswered


@dataclass
class Spec:
    turns: list[Turn]
    leads: list[tuple[str, int | None]]  # (status, days from creation to last activity)
    # request-log sessions: per actor ("user" or "lead"), minutes from t0 of each request
    sessions: dict[str, list[int]]
    ips: dict[str, str]  # actor -> client IP of its logged requests
    failed_requests: int
    expected: dict = field(default_factory=dict)


SPEC_A = Spec(
    turns=[
        Turn("What is the refund policy?", 0.5, 5, "up", True, 100, 20, "refunds.pdf", 0.9),
        Turn("what is the refund policy", 1.0, None, None, True, 200, 40, "refunds.pdf", 0.8),
        Turn("Do you ship to Mars?", 2.0, 2, None, False, 50, 10, None, 0.0,
             extra_unanswered="Do you deliver to Mars?"),
        Turn("Can I pay by cheque?", 4.0, None, "down", True, 80, 30, "payments.pdf", 0.6),
        Turn("Where is my order?", 1.5, 1, None, True, 60, 15, "orders.pdf", 0.7),
    ],
    leads=[("new", 2), ("contacted", 4), ("converted", None)],
    sessions={"user": [0, 10, 20, 180], "lead": [60, 66]},
    ips={"user": "203.0.113.7", "lead": "198.51.100.9"},
    failed_requests=3,
)
SPEC_B = Spec(
    turns=[
        Turn("How do I reset my password?", 0.2, 4, "down", True, 30, 5, "account.pdf", 0.95,
             extra_unanswered="Can I change my username?"),
        Turn("How do I reset my password", 0.4, 5, "up", True, 40, 5, "account.pdf", 0.75),
        Turn("Is there a student discount?", 3.0, 5, "down", False, 20, 5, None, 0.0),
        Turn("how do I reset my password!!", 0.3, 2, None, True, 25, 5, "account.pdf", 0.65),
    ],
    leads=[("converted", 3), ("converted", 1), ("qualified", 5), ("lost", None), ("lost", 2)],
    sessions={"user": [0, 30]},
    ips={"user": "192.0.2.44"},
    failed_requests=2,
)


class Caller:
    """Plain HTTP with one API key; counts the requests it makes (each is request-logged)."""

    def __init__(self, base: str, key: str, secret: str):
        self.base, self.headers, self.count = base, {"X-API-Key": key, "X-API-Secret": secret}, 0

    def __call__(self, method: str, path: str, **kwargs):
        self.count += 1
        return requests.request(method, self.base + "/api/v1" + path, headers=self.headers, timeout=60, **kwargs)


def build(app, live_server, tenant, spec: Spec) -> dict:
    """Rows a real run would leave (conversations, replies, leads, request logs), then the
    visitor's ratings and thumbs through the real routes."""
    from knowrithm.domains.agents.models import Agent
    from knowrithm.domains.analytics.models import ApiRequestLog
    from knowrithm.domains.conversations.models import Conversation, Message
    from knowrithm.domains.leads.models import Lead
    from knowrithm.infra.db import db, utcnow

    now = utcnow()
    base = now - timedelta(minutes=30)  # conversations and their messages on one calendar day
    if (base + timedelta(minutes=5)).date() != base.date():
        base -= timedelta(minutes=10)
    c = tenant.company_id
    with app.app_context():
        agent = Agent(company_id=c, name="Support", status="active")
        db.session.add(agent)
        db.session.flush()
        leads = []
        for n, (status, active_days) in enumerate(spec.leads):
            created = now - timedelta(days=10)
            # consents and phone vary with the script's size, so their rates differ between scripts
            lead = Lead(company_id=c, agent_id=agent.id, email=f"{uuid.uuid4().hex[:8]}@x.test", first_name="V",
                        status=status, created_at=created, consent_marketing=n == 0,
                        consent_data_processing=n < 2, phone="+100000" if n == len(spec.leads) - 1 else None,
                        last_activity=created + timedelta(days=active_days) if active_days is not None else None)
            leads.append(lead)
        db.session.add_all(leads)
        db.session.flush()
        conversations, replies = [], []
        for i, turn in enumerate(spec.turns):
            conv = Conversation(company_id=c, agent_id=agent.id, entity_type="lead",
                                entity_id=leads[i % len(leads)].id, title=f"chat {i}",
                                message_count=4 if turn.extra_unanswered else 2,
                                created_at=base)
            db.session.add(conv)
            db.session.flush()
            asked = [(turn.question, turn.answered)]
            if turn.extra_unanswered:
                asked.append((turn.extra_unanswered, False))
            for j, (question, answered) in enumerate(asked):
                q = Message(company_id=c, conversation_id=conv.id, agent_id=agent.id, role="user", content=question,
                            created_at=base + timedelta(minutes=1 + 2 * j))
                db.session.add(q)
                db.session.flush()
                first = j == 0
                reply = Message(
                    company_id=c, conversation_id=conv.id, agent_id=agent.id, role="assistant",
                    content="Answer [Source 1]" if answered else "I don't know.", answered=answered,
                    reply_to_id=q.id, processing_time=turn.seconds if first else None,
                    tokens_used=(turn.prompt_tokens + turn.completion_tokens) if first else None,
                    model_used="gpt-4o-mini" if first else None,
                    confidence_score=turn.confidence if first else 0.0,
                    sources=[{"source_number": 1, "document_name": turn.cites, "cited": True}] if first and turn.cites else [],
                    extra_metadata={"usage": {"prompt_tokens": turn.prompt_tokens,
                                              "completion_tokens": turn.completion_tokens}} if first else {},
                    created_at=base + timedelta(minutes=2 + 2 * j))
                db.session.add(reply)
                db.session.flush()
                if first:
                    replies.append(reply.id)
            conversations.append(conv.id)
        # Two days ago from 08:00 UTC: every scripted session falls on that one day.
        t0 = (now - timedelta(days=2)).replace(hour=8, minute=0, second=0, microsecond=0)
        actors = {"user": {"user_id": tenant.admin_id}, "lead": {"lead_id": leads[0].id}}
        for actor, minutes in spec.sessions.items():
            for m in minutes:
                db.session.add(ApiRequestLog(company_id=c, method="GET", endpoint="/api/v1/conversation",
                                             status_code=200, response_time_ms=12.5, auth_type=actor,
                                             ip_address=spec.ips[actor], created_at=t0 + timedelta(minutes=m),
                                             **actors[actor]))
        db.session.commit()
        ids = {"agent": str(agent.id), "conversations": [str(x) for x in conversations],
               "replies": [str(x) for x in replies]}
        db.session.remove()
    key, secret = make_api_key(app, tenant)
    call = Caller(live_server, key, secret)
    for turn, conv_id, reply_id in zip(spec.turns, ids["conversations"], ids["replies"]):
        if turn.rating is not None:
            assert call("POST", f"/conversation/{conv_id}/rating", json={"rating": turn.rating}).status_code == 200
        if turn.thumb:
            assert call("POST", f"/message/{reply_id}/feedback", json={"rating": turn.thumb}).status_code == 200
    for _ in range(spec.failed_requests):
        assert call("GET", f"/conversation/{uuid.uuid4()}/messages").status_code == 404
    ids["call"] = call
    return ids


def reports(call: Caller, ids: dict) -> dict:
    """Every analytics and API-usage report of the company (usage first: it counts requests)."""
    def get(path, **params):
        resp = call("GET", path, params=params)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        return body.get("data", body) if path.startswith(("/overview", "/usage-trends", "/top-endpoints",
                                                           "/api-key-performance", "/error-analysis",
                                                           "/detailed-usage")) else body

    out = {"usage": get("/analytic/usage")}
    ids["http_before_usage"] = call.count - 1
    out["dashboard"] = get("/analytic/dashboard")
    out["agent"] = get(f"/analytic/agent/{ids['agent']}")
    out["conversation"] = get(f"/analytic/conversation/{ids['conversations'][0]}")
    out["leads"] = get("/analytic/leads")
    out["support"] = get("/analytic/support")
    out["overview"] = get("/overview")
    out["errors"] = get("/error-analysis")
    resp = call("POST", "/analytic/export", json={"type": "usage", "format": "json"})
    out["export"] = resp.json()
    return out


def _expected_support(spec: Spec) -> dict:
    turns = spec.turns
    resolved = [t for t in turns if t.answered and not t.extra_unanswered and t.thumb != "down"]
    deflected = [t for t in resolved if t.rating is None or t.rating >= 3]
    ratings = [t.rating for t in turns if t.rating is not None]
    prompt = sum(t.prompt_tokens for t in turns)
    completion = sum(t.completion_tokens for t in turns)
    cost = (prompt * 0.15 + completion * 0.60) / 1e6  # gpt-4o-mini's catalog prices, USD per 1M tokens
    return {"handled": len(turns), "resolved": len(resolved), "deflected": len(deflected), "ratings": ratings,
            "tokens": prompt + completion, "cost": cost}


def _percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    pos = q * (len(values) - 1)
    low = int(pos)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (pos - low)


def check(spec: Spec, r: dict, ids: dict) -> None:
    approx = pytest.approx
    exp = _expected_support(spec)
    n = len(spec.turns)
    # --- support metrics
    s = r["support"]
    assert s["conversations_handled"] == n
    assert s["resolution"] == {"resolved_conversations": exp["resolved"],
                               "resolution_rate_percent": approx(round(100 * exp["resolved"] / n, 2))}
    assert s["deflection"]["deflection_rate_percent"] == approx(round(100 * exp["deflected"] / n, 2))
    ratings = exp["ratings"]
    assert s["csat"]["rated_conversations"] == len(ratings)
    assert s["csat"]["csat_percent"] == approx(round(100 * sum(1 for x in ratings if x >= 4) / len(ratings), 2))
    assert s["csat"]["average_rating"] == approx(round(sum(ratings) / len(ratings), 2))
    assert s["csat"]["distribution"] == {str(k): ratings.count(k) for k in range(1, 6)}
    times = [t.seconds for t in spec.turns]
    rt = s["response_time_seconds"]
    assert rt["answers"] == n and rt["max"] == approx(max(times))
    for q in (50, 90, 95, 99):
        assert rt[f"p{q}"] == approx(round(_percentile(times, q / 100), 3))
    assert s["tokens"]["total_tokens"] == exp["tokens"]
    assert s["tokens"]["total_cost_usd"] == approx(round(exp["cost"], 6))
    assert s["tokens"]["cost_per_conversation_usd"] == approx(round(exp["cost"] / n, 6))
    unanswered = [t for t in spec.turns if not t.answered]
    assert sum(c["count"] for c in s["unanswered_questions"]) == len(unanswered) + sum(
        1 for t in spec.turns if t.extra_unanswered)
    top = s["top_questions"][0]
    # the same question asked again with other case and punctuation
    questions = [" ".join("".join(ch for ch in t.question.lower() if ch.isalnum() or ch == " ").split())
                 for t in spec.turns]
    assert top["count"] == max(questions.count(q) for q in questions)
    cited = [t.cites for t in spec.turns if t.cites]
    assert {t["topic"]: t["answers"] for t in s["top_topics"]} == {d: cited.count(d) for d in set(cited)}

    # --- dashboard
    d = r["dashboard"]
    assert d["conversation_analytics"]["lead_engagement"]["average_satisfaction"] == approx(
        round(sum(ratings) / len(ratings), 2))
    msgs = d["conversation_analytics"]["message_analytics"]
    confidences = [t.confidence for t in spec.turns] + [0.0] * sum(1 for t in spec.turns if t.extra_unanswered)
    assert msgs["average_confidence_score"] == approx(round(sum(confidences) / len(confidences), 3))
    session_lengths = []
    for minutes in spec.sessions.values():
        start = prev = minutes[0]
        for m in minutes[1:]:
            if m - prev > 30:
                session_lengths.append(prev - start)
                start = m
            prev = m
        session_lengths.append(prev - start)
    sessions = d["activity_analytics"]["session_analytics"]
    assert sessions["average_session_duration_minutes"] == approx(round(sum(session_lengths) / len(session_lengths), 2))
    assert d["support_metrics"]["resolution"]["resolved_conversations"] == exp["resolved"]
    thumbs = [t.thumb for t in spec.turns if t.thumb]
    agent_rating = round((sum(ratings) + 5 * thumbs.count("up") + thumbs.count("down")) / (len(ratings) + len(thumbs)), 2)
    assert d["agent_analytics"]["top_performing_agents"][0]["average_rating"] == approx(agent_rating)

    # --- agent and leads
    assert r["agent"]["quality_metrics"]["current_agent_rating"] == approx(agent_rating)
    assert r["agent"]["quality_metrics"]["avg_satisfaction_rating"] == approx(round(sum(ratings) / len(ratings), 2))
    days = [a or 0 for _, a in spec.leads]
    assert r["leads"]["lead_quality"]["avg_engagement_days"] == approx(round(sum(days) / len(days), 2))
    assert r["leads"]["lead_summary"]["total_leads"] == len(spec.leads)
    assert r["conversation"]["lead_engagement"]["average_satisfaction"] == approx(float(spec.turns[0].rating))
    assert sessions["total_sessions"] == len(session_lengths)
    assert sessions["unique_ip_addresses"] == len(spec.ips) + 1  # the scripted callers and this test's key

    # --- usage, client IPs, export
    logged = sum(len(m) for m in spec.sessions.values())
    http = ids["http_before_usage"]
    u = r["usage"]
    assert u["api_usage"]["total_api_calls"] == logged + http
    assert u["api_usage"]["error_count"] == spec.failed_requests
    assert u["agent_usage"]["avg_agent_rating"] == approx(agent_rating)
    expected_ips = {ip: len(spec.sessions[actor]) for actor, ip in spec.ips.items()}
    expected_ips["127.0.0.1"] = http
    assert {row["ip_address"]: row["request_count"] for row in u["top_client_ips"]} == expected_ips
    exported = {row["ip_address"] for row in r["export"]["usage_logs"]}
    assert exported == set(expected_ips)
    assert r["errors"]["status_code_breakdown"] == [{"status_code": 404, "count": spec.failed_requests}]


@pytest.fixture
def scripted(app, live_server, companies):
    a, b = companies
    ids_a = build(app, live_server, a, SPEC_A)
    ids_b = build(app, live_server, b, SPEC_B)
    return (ids_a, ids_b)


# Fields that may read the same for both scripts. Each is a count the scripts do not vary or
# a label-like number, not a measurement that is stuck.
SAME_BY_DESIGN = {
    "dashboard.core_metrics.agent_count", "usage.agent_usage.active_agents", "usage.agent_usage.total_agents",
    "dashboard.agent_analytics.agent_status_distribution.active",  # one agent per script
    "overview.api_keys.total", "overview.api_keys.active", "overview.api_keys.expired", "overview.api_keys.revoked",
    "usage.api_usage.active_api_keys",  # one API key per script
    "overview.period_days", "errors.period_days",  # the query's default window
    "errors.status_code_breakdown[0].status_code",  # an HTTP status code, not a measurement
    "conversation.conversation_status.active", "conversation.lead_engagement.engaged_leads",
    "conversation.message_analytics.rated_messages",  # one conversation, one lead, one rated reply
    "dashboard.company_analytics.user_growth_90days[0].new_users",  # one admin per company
    "usage.daily_usage_trend[0].errors", "usage.daily_usage_trend[0].success_rate_percent",  # the scripted
    # history two days ago has no failed request in either script
}
SAME_SECTIONS = (
    # Not exercised by the scripts (no documents, databases, crawls, security events; one admin):
    "dashboard.document_analytics", "dashboard.database_analytics", "dashboard.website_analytics",
    "dashboard.performance_analytics.document_processing", "dashboard.core_metrics.document_count",
    "dashboard.core_metrics.connection_count", "dashboard.security_analytics", "dashboard.user_management",
    "dashboard.core_metrics.total_users",
    # Questions each asked once (the first entry, asked most, differs between scripts):
    "support.top_questions[1]", "dashboard.support_metrics.top_questions[1]", "dashboard.unanswered_questions",
    "support.top_questions[2]", "dashboard.support_metrics.top_questions[2]",
    # The largest conversations of both scripts hold the scripted 4 and 2 messages:
    "dashboard.conversation_analytics.top_conversations",
    # Status codes and the scripted latency of the logged history:
    "export.usage_logs", "usage.endpoint_usage",
    # Star buckets are small counts (the totals, CSAT and averages differ):
    "support.csat.distribution", "dashboard.support_metrics.csat.distribution",
    # The bucket of replies no model wrote ("I don't know" without sources): zero tokens in both:
    "support.tokens.by_model[1]", "dashboard.support_metrics.tokens.by_model[1]",
    # A list in the database's order of statuses; the keyed lead_status_distribution is compared:
    "leads.status_distribution",
)


def _numbers(value, path=""):
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _numbers(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _numbers(v, f"{path}[{i}]")


def test_reports_show_exactly_the_scripted_numbers(scripted):
    ids_a, ids_b = scripted
    check(SPEC_A, reports(ids_a["call"], ids_a), ids_a)
    check(SPEC_B, reports(ids_b["call"], ids_b), ids_b)


def test_no_numeric_field_is_the_same_for_different_data(scripted):
    ids_a, ids_b = scripted
    ra, rb = reports(ids_a["call"], ids_a), reports(ids_b["call"], ids_b)
    a, b = dict(_numbers(ra)), dict(_numbers(rb))
    same = sorted(p for p in set(a) & set(b) if a[p] == b[p] and p not in SAME_BY_DESIGN
                  and not any(p.startswith(prefix) for prefix in SAME_SECTIONS))
    assert not same, f"identical across two scenarios with different data: {same}"
