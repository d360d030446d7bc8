"""Business counters for Prometheus: conversations, messages, leads by status, feedback.

Counted from the ORM unit of work (after the flush that wrote them, published when the
transaction commits, dropped on rollback), so every write path (API, widget, worker) counts
the same way and nothing rolled back is counted.
"""
from __future__ import annotations

from prometheus_client import Counter
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from knowrithm.domains.conversations.models import Conversation, Message
from knowrithm.domains.leads.models import Lead

CONVERSATIONS = Counter("knowrithm_conversations_created_total", "Conversations started")
MESSAGES = Counter("knowrithm_messages_total", "Messages stored, by role", ["role"])
LEADS = Counter("knowrithm_leads_total", "Leads created or moved, by the status they reached", ["status"])
FEEDBACK = Counter("knowrithm_feedback_total", "Message ratings given, by rating", ["rating"])

_KEY = "knowrithm_business_counts"


def _changed(obj, attr: str) -> bool:
    return bool(inspect(obj).attrs[attr].history.added)


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _ctx) -> None:
    counts = session.info.setdefault(_KEY, [])
    for obj in session.new:
        if isinstance(obj, Message):
            counts.append((MESSAGES, (obj.role,)))
            if obj.user_feedback is not None:
                counts.append((FEEDBACK, (str(obj.user_feedback),)))
        elif isinstance(obj, Conversation):
            counts.append((CONVERSATIONS, ()))
        elif isinstance(obj, Lead):
            counts.append((LEADS, (obj.status or "new",)))
    for obj in session.dirty:
        if isinstance(obj, Message) and obj.user_feedback is not None and _changed(obj, "user_feedback"):
            counts.append((FEEDBACK, (str(obj.user_feedback),)))
        elif isinstance(obj, Lead) and _changed(obj, "status"):
            counts.append((LEADS, (obj.status,)))


@event.listens_for(Session, "after_commit")
def _publish(session: Session) -> None:
    for counter, labels in session.info.pop(_KEY, ()):
        (counter.labels(*labels) if labels else counter).inc()


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_KEY, None)
