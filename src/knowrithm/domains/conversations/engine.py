"""Building one grounded answer: history, retrieval, prompt, models with fallbacks, citations.

Runs in the worker (task `knowrithm.conversations.answer`). The database session is
committed before the model is called so no connection is held during model time."""
from __future__ import annotations

import logging
import math
import re
import time
import uuid
from dataclasses import dataclass, field

from prometheus_client import Histogram
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from knowrithm.domains.agents.models import Agent
from knowrithm.domains.databases import answers as db_answers
from knowrithm.domains.llm.models import LLMSettings
from knowrithm.domains.llm.runtime import chat_adapters
from knowrithm.domains.llm.service import default_settings
from knowrithm.domains.search.service import search_chunks
from knowrithm.infra.db import db, utcnow
from knowrithm.infra.errors import ApiError, NotFound
from knowrithm.infra.tasks import TaskRecord
from knowrithm.integrations.llm.base import ChatMessage, Completion, LLMAdapter, LLMError, Passage

from . import events
from .models import Conversation, Message
from .schemas import message_out

log = logging.getLogger(__name__)

CHAT_LATENCY = Histogram("knowrithm_chat_latency_seconds", "Answer time by phase: retrieval, model, total",
                         ["phase"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))

RETRIEVAL_LIMIT = 5
DELTA_FLUSH_SECONDS = 0.1
NO_SOURCES_REPLY = ("I couldn't find anything about that in the information I have, so I can't answer it "
                    "reliably. Could you rephrase your question or ask about something else?")
BASE_PROMPT = ("You are {name}, an assistant for this company's customers. Answer only from the sources you are "
               "given and cite each fact as [Source N]. If the sources do not answer the question, say you don't "
               "know; never invent facts, links or numbers.")
_CITATION = re.compile(r"\[Sources?\s+(\d+(?:\s*(?:,|and|&)\s*(?:Source\s+)?\d+)*)\]", re.IGNORECASE)


class AnswerFailed(ApiError):
    status, code, message = 502, "LLM_ERROR", "The model could not answer"


@dataclass
class Draft:
    text: str = ""
    model: str | None = None
    completion: Completion | None = None
    errors: list[str] = field(default_factory=list)
    first_token_ms: float | None = None  # model time to its first text (the benchmark subtracts it)
    model_ms: float | None = None


def approx_tokens(text: str) -> int:
    return math.ceil(len(text or "") / 4)


# --- inputs ------------------------------------------------------------------------------

def history(conv: Conversation, before: Message, budget_tokens: int) -> list[ChatMessage]:
    """The most recent completed turns before `before`, newest first until the budget is spent."""
    rows = db.session.execute(
        select(Message).where(Message.conversation_id == conv.id, Message.id != before.id,
                              Message.created_at <= before.created_at, Message.status == "completed",
                              Message.role.in_(("user", "assistant")))
        .order_by(Message.created_at.desc()).limit(50)).scalars()
    out: list[ChatMessage] = []
    for row in rows:
        cost = approx_tokens(row.content)
        if cost > budget_tokens:
            break
        budget_tokens -= cost
        out.append(ChatMessage(row.role, row.content))
    return list(reversed(out))


def retrieve(agent: Agent, question: str) -> list[Passage]:
    try:
        hits = search_chunks(agent_id=agent.id, query=question, limit=RETRIEVAL_LIMIT)
    except ApiError:
        raise
    except Exception:  # noqa: BLE001 - a search outage should not lose the visitor's question
        log.exception("retrieval failed for agent %s", agent.id)
        return []
    return [Passage(number=i + 1, content=h.get("content") or "", document_name=h.get("document_name") or "Document",
                    url=h.get("source_url") or h.get("url"), score=float(h.get("score") or 0.0),
                    chunk_id=str(h.get("chunk_id")) if h.get("chunk_id") else None,
                    document_id=str(h.get("document_id")) if h.get("document_id") else None,
                    similarity=(h.get("metadata") or {}).get("vector_similarity"))
            for i, h in enumerate(hits) if h.get("content")]


def llm_settings(agent: Agent):
    """The agent's settings (else the company default) with their providers and models in the same
    round trip: retrieval's embedder and the chat adapters then read them from the session."""
    settings = None
    if agent.llm_settings_id:
        settings = db.session.get(LLMSettings, agent.llm_settings_id, options=[
            joinedload(LLMSettings.llm_provider), joinedload(LLMSettings.llm_model),
            joinedload(LLMSettings.embedding_provider), joinedload(LLMSettings.embedding_model)])
    if settings is None or settings.deleted_at is not None or not settings.is_active:
        settings = default_settings(agent.company_id)
    return settings


def adapters_for(agent: Agent, settings=None) -> list[tuple[str, LLMAdapter]]:
    return chat_adapters(settings if settings is not None else llm_settings(agent))


def prompt(agent: Agent, past: list[ChatMessage], question: str) -> list[ChatMessage]:
    system = BASE_PROMPT.format(name=agent.name)
    if agent.system_prompt:
        system = f"{agent.system_prompt.strip()}\n\n{system}"
    return [ChatMessage("system", system), *past, ChatMessage("user", question)]


# --- model call ------------------------------------------------------------------------------

def generate(adapters, messages, passages, on_delta) -> Draft:
    """The first model that answers wins; a failing one hands over to the next (fallbacks)."""
    draft = Draft()
    for label, adapter in adapters:
        parts: list[str] = []
        started = time.perf_counter()
        try:
            pending, last_flush = "", 0.0  # the first delta goes out at once; later ones are batched
            for delta in adapter.stream(messages, passages=passages):
                if not parts:
                    draft.first_token_ms = round((time.perf_counter() - started) * 1000, 2)
                parts.append(delta)
                pending += delta
                if time.monotonic() - last_flush >= DELTA_FLUSH_SECONDS:
                    on_delta(pending, label)
                    pending, last_flush = "", time.monotonic()
            if pending:
                on_delta(pending, label)
        except LLMError as exc:
            draft.errors.append(f"{label}: {exc}")
            log.warning("model %s failed (%s); trying the next one", label, exc.code)
            continue
        text = "".join(parts).strip()
        completion = getattr(adapter, "last_completion", None)
        if completion is None or completion.text.strip() != text:
            completion = Completion(text, label, sum(approx_tokens(m.content) for m in messages),
                                    approx_tokens(text))
        draft.text, draft.model, draft.completion = text, label, completion
        draft.model_ms = round((time.perf_counter() - started) * 1000, 2)
        return draft
    return draft


def citations(text: str, passages: list[Passage]) -> tuple[list[int], list[str]]:
    cited: set[int] = set()
    warnings: list[str] = []
    for match in _CITATION.finditer(text):
        for number in re.findall(r"\d+", match.group(1)):
            n = int(number)
            if 1 <= n <= len(passages):
                cited.add(n)
            else:
                warnings.append(f"Source {n} is cited but was not provided")
    return sorted(cited), sorted(set(warnings))


def source_entries(passages: list[Passage], cited: list[int],
                   extras: dict | None = None) -> tuple[list[dict], list[str]]:
    """One entry per passage; database results add `type: database`, the SQL and the connection."""
    sources, labels = [], []
    for p in passages:
        sources.append({"source_number": p.number, "document_name": p.document_name, "url": p.url,
                        "cited": p.number in cited, "document_id": p.document_id, "chunk_id": p.chunk_id,
                        "score": round(p.score, 4), "excerpt": p.content[:300], "type": "document",
                        **(extras or {}).get(p.number, {})})
        labels.append(f"Source {p.number}: {p.document_name}" + (f" ({p.url})" if p.url else ""))
    return sources, labels


# The all-MiniLM cosine of unrelated text sits near 0.2 and of a near-paraphrase above 0.8.
SIMILARITY_FLOOR, SIMILARITY_CEILING = 0.2, 0.8
KEYWORD_ONLY_SIMILARITY = 0.5


def confidence(passages: list[Passage], cited: list[int], answered: bool) -> float:
    """How well the retrieved knowledge supports the answer, in 0..1:

        confidence = 0                                    if nothing relevant was found or the
                                                          model said it did not know
                   = clamp((s - 0.2) / (0.8 - 0.2), 0, 1) otherwise,

    where s is the highest question-passage cosine similarity among the passages the answer
    cites (among all retrieved passages when it cites none). A keyword-only hit has no cosine
    and counts as s = 0.5."""
    if not answered or not passages:
        return 0.0
    chosen = [p for p in passages if p.number in cited] or passages
    s = max(p.similarity if p.similarity is not None else KEYWORD_ONLY_SIMILARITY for p in chosen)
    return round(min(1.0, max(0.0, (s - SIMILARITY_FLOOR) / (SIMILARITY_CEILING - SIMILARITY_FLOOR))), 4)


# --- the task body --------------------------------------------------------------------------

def load(conversation_id: str, message_id: str):
    """(conversation, user message, agent or None) in one round trip; the tenancy filter still
    applies to each (a deleted agent comes back as None)."""
    row = db.session.execute(
        select(Conversation, Message, Agent)
        .join(Message, Message.conversation_id == Conversation.id)
        .outerjoin(Agent, Agent.id == Conversation.agent_id)
        .where(Conversation.id == uuid.UUID(conversation_id), Message.id == uuid.UUID(message_id))).first()
    if row is None:
        raise NotFound("The conversation or message no longer exists")
    return row


def mark_task(task_id: str, *, unstarted_only: bool = False, **values) -> None:
    """The task record's state, written inside the engine's own transactions (no extra commit)."""
    try:
        key = uuid.UUID(task_id)
    except (TypeError, ValueError):
        return
    stmt = update(TaskRecord).where(TaskRecord.id == key)
    if unstarted_only:
        stmt = stmt.where(TaskRecord.started_at.is_(None))
    db.session.execute(stmt.values(**values))


def answer(*, conversation_id: str, message_id: str, task_id: str, acknowledged_ms: int) -> dict:
    started = time.perf_counter()
    started_wall_ms = time.time() * 1000
    conv, user_msg, agent = load(conversation_id, message_id)
    if user_msg.status == "completed":  # a redelivered task: the answer may already exist
        done = db.session.execute(select(Message).where(Message.reply_to_id == user_msg.id,
                                                        Message.role == "assistant")).scalars().first()
        if done is not None:
            body = result_body(conv.id, user_msg.id, message_out(done))
            mark_task(task_id, state="SUCCESS", result=body, finished_at=utcnow(), error=None)
            db.session.commit()
            return body
    # Plain values: the ORM objects expire at the commit below and must not be reloaded one by one.
    conv_id, user_msg_id, company_id, agent_id = conv.id, user_msg.id, conv.company_id, conv.agent_id
    ids = dict(conversation_id=conv_id, message_id=user_msg_id, task_id=task_id, acknowledged_ms=acknowledged_ms)
    events.chat_status(status="in_progress", **ids)
    mark_task(task_id, state="STARTED", started_at=utcnow(), retries=0)  # committed with the setup below
    timings: dict = {"queue_ms": round(started_wall_ms - acknowledged_ms, 2)}
    try:
        if agent is None:
            raise AnswerFailed("The agent of this conversation no longer exists", code="AGENT_NOT_FOUND")
        question = user_msg.content
        settings = llm_settings(agent)
        t0 = time.perf_counter()
        passages = retrieve(agent, question)
        timings["retrieval_ms"] = round((time.perf_counter() - t0) * 1000, 2)
        databases = db_answers.targets(agent.id)
        budget = conv.max_context_length - approx_tokens(question) - sum(approx_tokens(p.content) for p in passages)
        messages = prompt(agent, history(conv, user_msg, max(0, budget)), question)
        adapters = adapters_for(agent, settings) if passages or databases else []
        db.session.commit()  # release the connection during model time (and database queries)
        queries, extras = [], {}
        if databases:
            t0 = time.perf_counter()
            queries = db_answers.run(question, databases, adapters, current_app.config["SETTINGS"],
                                     on_query=lambda: events.chat_status(status="in_progress", stage="querying_database",
                                                                         detail="Querying the database", **ids))
            timings["database_ms"] = round((time.perf_counter() - t0) * 1000, 2)
            for result in queries:
                if result.error is None:
                    passages.append(db_answers.passage(result, len(passages) + 1, question))
                    extras[len(passages)] = db_answers.source_extra(result)
        # Task start -> everything the model needs is ready (load, retrieval, history, adapters, commit).
        timings["setup_ms"] = round((time.perf_counter() - started) * 1000, 2)

        def on_delta(delta: str, label: str) -> None:
            events.chat_delta(conversation_id=conv_id, message_id=user_msg_id, task_id=task_id, delta=delta,
                              model=label)
            if "first_delta_ms" not in timings:  # task start -> the first text is on its way to the streams
                timings["first_delta_ms"] = round((time.perf_counter() - started) * 1000, 2)

        if passages:
            draft = generate(adapters, messages, passages, on_delta)
            if draft.completion is None:
                raise AnswerFailed("No model could answer: " + "; ".join(draft.errors or ["no model configured"]))
            answered = draft.completion.answered
        else:
            draft = Draft(text=NO_SOURCES_REPLY, model=None,
                          completion=Completion(NO_SOURCES_REPLY, "none", 0, approx_tokens(NO_SOURCES_REPLY)))
            answered = False
            on_delta(NO_SOURCES_REPLY, "none")
    except ApiError as exc:
        db.session.rollback()
        fail(user_msg_id, str(exc), ids)
        raise
    except Exception as exc:  # noqa: BLE001 - any model/adapter crash becomes a failed reply with a reason
        db.session.rollback()
        log.exception("answer failed for conversation %s", conv_id)
        fail(user_msg_id, f"The answer could not be generated: {exc}", ids)
        raise AnswerFailed(f"The answer could not be generated: {exc}") from exc

    cited, warnings = citations(draft.text, passages) if answered else ([], [])
    sources, labels = source_entries(passages, cited, extras) if answered else ([], [])
    elapsed = round(time.perf_counter() - started, 3)
    # Where the time went, for operators and the benchmark (which subtracts model time).
    timings.update(model_first_token_ms=draft.first_token_ms, model_ms=draft.model_ms)
    CHAT_LATENCY.labels("retrieval").observe(timings["retrieval_ms"] / 1000)
    CHAT_LATENCY.labels("model").observe((draft.model_ms or 0.0) / 1000)
    CHAT_LATENCY.labels("total").observe(elapsed)
    now = utcnow()
    reply = Message(id=uuid.uuid4(), company_id=company_id, conversation_id=conv_id, agent_id=agent_id,
                    role="assistant", content=draft.text, content_type="text", status="completed",
                    model_used=draft.model, processing_time=elapsed, tokens_used=draft.completion.total_tokens,
                    answered=answered, confidence_score=confidence(passages, cited, answered), reply_to_id=user_msg_id, sources=sources, created_at=now, updated_at=now,
                    context_used={"passages": len(passages), "history_messages": len(messages) - 2},
                    extra_metadata={"all_sources": labels, "cited_sources": cited, "citation_warnings": warnings,
                                    "task_id": task_id, "timings": timings,
                                    # priced per side by the support metrics (catalog input/output prices)
                                    "usage": {"prompt_tokens": draft.completion.prompt_tokens,
                                              "completion_tokens": draft.completion.completion_tokens},
                                    "database_queries": [db_answers.query_record(r) for r in queries]})
    db.session.add(reply)
    db.session.execute(update(Message).where(Message.id == user_msg_id).values(status="completed"))
    db.session.execute(update(Conversation).where(Conversation.id == conv_id).values(
        message_count=Conversation.message_count + 1, last_activity=now,
        total_tokens=Conversation.total_tokens + reply.tokens_used))
    db.session.flush()
    out = message_out(reply)
    body = result_body(conv_id, user_msg_id, out)
    # The task's result goes in with the reply (the status route reads it), not in a second commit.
    mark_task(task_id, state="SUCCESS", result=body, finished_at=utcnow(), error=None)
    db.session.commit()
    events.chat_response(message=out, **ids)
    return body


# What anyone holding the stream (a widget visitor included) is told; the code lets a client
# show its own translation. The provider's own text goes to staff and the log only.
VISITOR_FAILURE = "Sorry, the assistant could not answer right now. Please try again in a moment."
VISITOR_FAILURE_CODE = "ANSWER_FAILED"


def fail(user_message_id, reason: str, ids: dict) -> None:
    """The user's message is kept (marked failed) and every stream hears that it failed; the
    reason (which may carry a provider's raw error) is kept for staff as `error_detail`. The
    task's base class records the failure itself."""
    log.warning("answer failed for message %s: %s", user_message_id, reason[:500])
    msg = db.session.get(Message, user_message_id)
    if msg is not None:
        msg.status = "failed"
        msg.extra_metadata = {**(msg.extra_metadata or {}), "error": VISITOR_FAILURE,
                              "error_code": VISITOR_FAILURE_CODE, "error_detail": reason[:500]}
    # A rolled-back setup took its STARTED mark with it: keep when the task started.
    mark_task(str(ids["task_id"]), unstarted_only=True, state="STARTED", started_at=utcnow())
    db.session.commit()
    events.chat_response(error=VISITOR_FAILURE, error_code=VISITOR_FAILURE_CODE, **ids)


def result_body(conversation_id, user_message_id, out: dict) -> dict:
    meta = out["metadata"]
    return {"conversation_id": str(conversation_id), "message_id": str(user_message_id),
            "assistant_message_id": out["id"], "role": "assistant", "content": out["content"],
            "response": out["content"], "message": out, "model_used": out["model_used"],
            "processing_time": out["processing_time"], "tokens_used": out["tokens_used"], "answered": out["answered"],
            "metadata": meta, "sources": out["sources"], "all_sources": meta["all_sources"],
            "cited_sources": meta["cited_sources"]}
