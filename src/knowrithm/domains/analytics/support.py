"""Support metrics for company admins: resolution, deflection, CSAT, unanswered questions
(clustered), top questions and topics, response-time percentiles, token use and cost.

Definitions (each over the conversations started in the range that got at least one answer,
"handled"):
- resolved: no reply said it had no knowledge (`answered` false) and no reply got a thumbs-down;
- deflected: resolved, and the visitor did not rate the conversation 1 or 2, i.e. nothing
  signals that a human had to step in;
- CSAT: share of the visitors' 1-5 conversation ratings that are 4 or 5;
- response time: each reply's `processing_time` (question accepted -> answer stored);
- cost: each reply's prompt and completion tokens times its model's catalog prices (USD per
  million tokens; replies stored before the split count every token at the input price).
Tables here are tenant-owned, so the tenancy hook keeps every query inside the company.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from array import array
from datetime import datetime

import redis

from sqlalchemy import Float, case, cast, func, select

from knowrithm.domains.agents.models import Agent
from knowrithm.domains.conversations.models import Conversation, Message
from knowrithm.domains.llm.models import ProviderModel
from knowrithm.infra.db import db
from knowrithm.infra.redis import get_redis
from knowrithm.infra.tenancy import current_company_id, get_or_404
from knowrithm.integrations.embeddings.base import EmbeddingConfig, get_embedder

CLUSTER_SIMILARITY = 0.75  # all-MiniLM cosine above which two questions ask the same thing
MAX_CLUSTERED = 300  # most recent unanswered questions embedded per report
CLUSTER_MODEL = "all-MiniLM-L6-v2"
# A question's vector is the same for every company (the model is fixed); keyed by the text's
# hash, so the key names no question text. Clusters do quote questions, so their keys name the
# company (`<CLUSTERS_KEY><company>:<hash>`): erasing the company scrubs them by its id, and
# erasing a visitor drops the company's clusters with the visitor's vectors (`forget_questions`).
VECTOR_KEY = f"knowrithm:question-vector:{CLUSTER_MODEL}:"
CLUSTERS_KEY = f"knowrithm:question-clusters:{CLUSTER_MODEL}:"
VECTOR_TTL = 7 * 86400
PERCENTILES = (0.5, 0.9, 0.95, 0.99)


def _pct(part, whole) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def support_metrics(start: datetime, end: datetime, *, agent_id=None, limit: int = 10) -> dict:
    conv_filter = [Conversation.created_at.between(start, end)]
    if agent_id is not None:
        conv_filter.append(Conversation.agent_id == get_or_404(Agent, agent_id, what="Agent").id)
    per_conv = (select(Message.conversation_id.label("cid"),
                       func.count(case((Message.role == "assistant", 1))).label("answers"),
                       func.count(case(((Message.role == "assistant") & Message.answered.is_(False), 1))).label("unanswered"),
                       func.count(case((Message.user_feedback < 0, 1))).label("thumbs_down"))
                .group_by(Message.conversation_id).subquery())
    rows = db.session.execute(
        select(Conversation.id, Conversation.lead_satisfaction, per_conv.c.unanswered, per_conv.c.thumbs_down)
        .join(per_conv, per_conv.c.cid == Conversation.id).where(*conv_filter, per_conv.c.answers > 0)).all()
    handled = len(rows)
    resolved = [r for r in rows if r.unanswered == 0 and r.thumbs_down == 0]
    deflected = [r for r in resolved if r.lead_satisfaction is None or r.lead_satisfaction >= 3]
    ratings = [r.lead_satisfaction for r in db.session.execute(
        select(Conversation.lead_satisfaction).where(*conv_filter, Conversation.lead_satisfaction.is_not(None))).all()]
    replies = select(Message).join(Conversation, Conversation.id == Message.conversation_id).where(
        *conv_filter, Message.role == "assistant").subquery()
    return {
        "date_range": {"start_date": start.isoformat(), "end_date": end.isoformat()},
        "conversations_handled": handled,
        "resolution": {"resolved_conversations": len(resolved), "resolution_rate_percent": _pct(len(resolved), handled)},
        "deflection": {"deflected_conversations": len(deflected), "deflection_rate_percent": _pct(len(deflected), handled)},
        "csat": _csat(ratings),
        "response_time_seconds": _percentiles(replies),
        "tokens": _tokens(replies, handled),
        "unanswered_questions": unanswered_clusters(conv_filter, limit=limit),
        "top_questions": _top_questions(conv_filter, limit),
        "top_topics": _top_topics(replies, limit),
    }


def _csat(ratings: list[float]) -> dict:
    n = len(ratings)
    satisfied = sum(1 for r in ratings if r >= 4)
    return {"rated_conversations": n, "satisfied_conversations": satisfied, "csat_percent": _pct(satisfied, n),
            "average_rating": round(sum(ratings) / n, 2) if n else 0.0,
            "distribution": {str(star): sum(1 for r in ratings if round(r) == star) for star in range(1, 6)}}


def _percentiles(replies) -> dict:
    t = replies.c.processing_time
    row = db.session.execute(select(
        func.count(t), func.avg(t), func.max(t),
        *[func.percentile_cont(q).within_group(t) for q in PERCENTILES]).where(t.is_not(None))).one()
    n, avg, worst, *qs = row
    out = {"answers": n, "average": round(float(avg), 3) if avg is not None else 0.0,
           "max": round(float(worst), 3) if worst is not None else 0.0}
    for q, value in zip(PERCENTILES, qs):
        out[f"p{int(q * 100)}"] = round(float(value), 3) if value is not None else 0.0
    return out


def _tokens(replies, handled: int) -> dict:
    meta = replies.c["metadata"]
    prompt = cast(meta[("usage", "prompt_tokens")].as_string(), Float)
    completion = cast(meta[("usage", "completion_tokens")].as_string(), Float)
    rows = db.session.execute(
        select(replies.c.model_used, func.coalesce(func.sum(replies.c.tokens_used), 0),
               func.coalesce(func.sum(func.coalesce(prompt, replies.c.tokens_used)), 0),
               func.coalesce(func.sum(func.coalesce(completion, 0)), 0))
        .group_by(replies.c.model_used)).all()
    prices = _prices({m for m, *_ in rows if m})
    total_tokens, total_cost, by_model = 0, 0.0, []
    for model, tokens, prompt_tokens, completion_tokens in rows:
        inp, out = prices.get(model, (None, None))
        cost = ((prompt_tokens * (inp or 0)) + (completion_tokens * (out if out is not None else inp or 0))) / 1e6
        total_tokens += int(tokens)
        total_cost += cost
        by_model.append({"model": model or "none", "tokens": int(tokens), "prompt_tokens": int(prompt_tokens),
                         "completion_tokens": int(completion_tokens), "cost_usd": round(cost, 6),
                         "priced": inp is not None})
    by_model.sort(key=lambda r: -r["tokens"])
    return {"total_tokens": total_tokens, "total_cost_usd": round(total_cost, 6),
            "tokens_per_conversation": round(total_tokens / handled, 2) if handled else 0.0,
            "cost_per_conversation_usd": round(total_cost / handled, 6) if handled else 0.0,
            "by_model": by_model}


def _prices(names: set[str]) -> dict[str, tuple[float | None, float | None]]:
    """Catalog prices per model name (the company's own catalog row wins over the platform's)."""
    if not names:
        return {}
    rows = db.session.execute(
        select(ProviderModel.name, ProviderModel.input_price, ProviderModel.output_price, ProviderModel.company_id)
        .where(ProviderModel.name.in_(names), ProviderModel.model_type == "llm")
        .order_by(ProviderModel.company_id.is_(None))).all()
    out: dict = {}
    for name, inp, outp, _company in rows:
        out.setdefault(name, (inp, outp))
    return out


def _questions_with_unanswered_replies(conv_filter, limit: int):
    unanswered = (select(Message.reply_to_id).join(Conversation, Conversation.id == Message.conversation_id)
                  .where(*conv_filter, Message.role == "assistant", Message.answered.is_(False),
                         Message.reply_to_id.is_not(None)))
    return db.session.execute(select(Message.content, Message.created_at).where(Message.id.in_(unanswered))
                              .order_by(Message.created_at.desc()).limit(limit)).all()


def unanswered_clusters(conv_filter, *, limit: int = 10) -> list[dict]:
    """Unanswered questions grouped by meaning with the offline embedder (greedy: a question
    joins the first cluster whose first question it resembles above CLUSTER_SIMILARITY)."""
    rows = _questions_with_unanswered_replies(conv_filter, MAX_CLUSTERED)
    if not rows:
        return []
    # The clusters are a function of these questions alone: while no new one comes, every load
    # of the dashboard reuses them (keyed by a hash of the questions, so the key names no text).
    key = (f"{CLUSTERS_KEY}{current_company_id() or 'platform'}:"
           + hashlib.sha256(json.dumps([[q, at.isoformat()] for q, at in rows] + [limit]).encode()).hexdigest())
    r = get_redis()
    try:
        cached = r.get(key)
    except redis.RedisError:
        cached = None
    if cached:
        return json.loads(cached)
    out = _cluster(rows, limit)
    try:
        r.set(key, json.dumps(out), ex=VECTOR_TTL)
    except redis.RedisError:
        pass
    return out


def _cluster(rows, limit: int) -> list[dict]:
    import numpy as np  # here, not at import: the app's start does not pay for it

    questions = [content for content, _ in rows]
    vectors = np.asarray(_embed(questions), dtype=np.float64)
    similar = (vectors @ vectors.T) >= CLUSTER_SIMILARITY  # every pair at once, not a Python loop per pair
    heads: list[int] = []
    clusters: list[dict] = []
    for i, (question, (_, at)) in enumerate(zip(questions, rows)):
        joins = np.flatnonzero(similar[heads, i]) if heads else ()
        if len(joins):
            cluster = clusters[joins[0]]
            cluster["questions"].append(question)
            cluster["last_asked"] = max(cluster["last_asked"], at)
        else:
            heads.append(i)
            clusters.append({"questions": [question], "last_asked": at})
    clusters.sort(key=lambda c: (-len(c["questions"]), c["questions"][0]))
    return [{"question": c["questions"][0], "count": len(c["questions"]),
             "examples": sorted(set(c["questions"]))[:5], "last_asked": c["last_asked"].isoformat()}
            for c in clusters[:limit]]


def question_digest(text: str) -> str:
    """The cache name of a question's vector (PostgreSQL computes the same with
    `encode(sha256(convert_to(content, 'UTF8')), 'hex')`)."""
    return hashlib.sha256(text.encode()).hexdigest()


def forget_questions(company_id, digests: list[str]) -> int:
    """Drops the cached vectors of these questions and the company's cached clusters, which may
    quote them; returns how many entries went. Erasure calls it for an erased person's messages."""
    try:
        r = get_redis()
        doomed = [VECTOR_KEY + d for d in digests]
        doomed += list(r.scan_iter(f"{CLUSTERS_KEY}{company_id}:*", count=1000))
        return sum(r.delete(*doomed[i:i + 500]) for i in range(0, len(doomed), 500))
    except redis.RedisError:  # entries expire on their own (VECTOR_TTL)
        return 0


def _embed(texts: list[str]) -> list[list[float]]:
    """Question vectors, from the shared cache when a question was embedded before: the
    dashboard and the support report cluster the same recent questions on every load, and the
    model run is the report's main cost (bench/observability.py). Vectors are stored as float64
    (base64: the client decodes text), so a cached vector clusters exactly as a fresh one."""
    keys = [VECTOR_KEY + question_digest(t) for t in texts]
    r = get_redis()
    try:
        cached = r.mget(keys)
    except redis.RedisError:
        cached = [None] * len(texts)
    vectors = [list(array("d", base64.b64decode(raw))) if raw else None for raw in cached]
    missing = [i for i, v in enumerate(vectors) if v is None]
    if missing:
        fresh = get_embedder("local", EmbeddingConfig(model=CLUSTER_MODEL)).embed_documents([texts[i] for i in missing])
        pipe = r.pipeline(transaction=False)
        for i, vector in zip(missing, fresh):
            vectors[i] = list(vector)
            pipe.set(keys[i], base64.b64encode(array("d", vector).tobytes()).decode(), ex=VECTOR_TTL)
        try:
            pipe.execute()
        except redis.RedisError:  # the report stands without the cache
            pass
    return vectors


_WORDS = re.compile(r"[^\w\s]+")


def _top_questions(conv_filter, limit: int) -> list[dict]:
    """Visitors' questions, counted after folding case, punctuation and spacing."""
    normalised = func.trim(func.regexp_replace(func.lower(Message.content), r"[^\w\s]+|\s+", " ", "g"))
    rows = db.session.execute(
        select(normalised, func.count(), func.min(Message.content))
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(*conv_filter, Message.role == "user").group_by(normalised)
        .order_by(func.count().desc(), normalised).limit(limit)).all()
    return [{"question": example, "count": n} for _, n, example in rows]


def _top_topics(replies, limit: int) -> list[dict]:
    """Topics are the knowledge sources the answers cite, by how many answers cite them."""
    counts: dict[str, int] = {}
    for (sources,) in db.session.execute(select(replies.c.sources)).all():
        for name in {s.get("document_name") or s.get("url") or "unknown" for s in sources or [] if s.get("cited")}:
            counts[name] = counts.get(name, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [{"topic": name, "answers": n} for name, n in ranked]
