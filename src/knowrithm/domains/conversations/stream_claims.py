"""Opening an event stream without the database: the conversation's access facts, from Redis.

A stream open must decide what `service.load` decides for any other conversation route: the
conversation exists (not deleted) in the caller's company, a lead reaches it only from its own
visitor session and only while the lead is active, and a browser's `Origin` is on the agent's
widget allow-list. Thousands of visitors (re)open streams at once after a deploy or a network
blip, and each of those opens used to wait for a pooled database connection.

So the facts live in Redis: one *claim* per conversation (written when the conversation is
created, or at its first open) and one entry per lead (active or not), each stamped with a
cluster-wide generation. The open reads both and the generation in one MGET; a stamp that is not
the current generation is stale and the facts are read again from the database. Any committed
change to a fact (a conversation deleted, restored or reassigned, a lead deactivated or deleted,
an agent's settings or the settings' allow-list changed) bumps the generation, so it takes effect
on the next open in every process (the scheme of auth.key_cache). Bulk statements call
`invalidate()`; entries also expire after `TTL` seconds as a safety net. Without Redis the facts
come from the database, as before.
"""
from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from types import SimpleNamespace

import redis
from sqlalchemy import select

from knowrithm.domains.agents.models import Agent
from knowrithm.domains.leads.models import Lead
from knowrithm.domains.llm.models import LLMSettings
from knowrithm.domains.widget import embed
from knowrithm.infra.auth import Principal
from knowrithm.infra.db import after_committed_change, db
from knowrithm.infra.errors import NotFound, Unauthorized
from knowrithm.infra.redis import get_redis

from .access import may_reach
from .models import Conversation

log = logging.getLogger(__name__)

GENERATION_KEY = "knowrithm:stream-claims:generation"
CLAIM_PREFIX = "knowrithm:stream-claim:"
LEAD_PREFIX = "knowrithm:stream-lead:"
TTL = 600


@dataclass(frozen=True)
class Claim:
    conversation_id: str
    company_id: str
    entity_type: str | None
    entity_id: str | None
    visitor_session_id: str | None
    origins: tuple[str, ...]  # the agent's widget allow-list; empty = any origin

    def reachable_by(self, principal: Principal) -> bool:
        """`access.may_reach`, with the company check the tenancy hook does for rows."""
        if principal.company_id is not None and str(principal.company_id) != self.company_id:
            return False  # (no company: no tenancy filter, as for rows)
        return may_reach(principal, SimpleNamespace(entity_type=self.entity_type, entity_id=_uuid(self.entity_id),
                                                    visitor_session_id=_uuid(self.visitor_session_id)))

    def is_participant(self, principal: Principal) -> bool:
        """The conversation's own user or lead (not staff looking at it)."""
        own = principal.lead_id if principal.kind == "lead" else principal.user_id
        return (self.entity_type, _uuid(self.entity_id)) == ("lead" if principal.kind == "lead" else "user", own)


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def _claim_of(conv: Conversation, origins: list[str]) -> Claim:
    return Claim(conversation_id=str(conv.id), company_id=str(conv.company_id), entity_type=conv.entity_type,
                 entity_id=str(conv.entity_id) if conv.entity_id else None,
                 visitor_session_id=str(conv.visitor_session_id) if conv.visitor_session_id else None,
                 origins=tuple(origins))


def _origins(agent_id) -> list[str]:
    agent = db.session.execute(select(Agent).where(Agent.id == agent_id)
                               .execution_options(all_companies=True, include_deleted=True)).scalar_one_or_none()
    return embed.agent_origins(agent)


def _load_claim(conversation_id: uuid.UUID) -> Claim | None:
    conv = db.session.execute(select(Conversation).where(Conversation.id == conversation_id)
                              .execution_options(all_companies=True)).scalar_one_or_none()
    return _claim_of(conv, _origins(conv.agent_id)) if conv is not None else None


def _load_lead_active(lead_id: uuid.UUID) -> bool:
    lead = db.session.execute(select(Lead.is_active).where(Lead.id == lead_id)
                              .execution_options(all_companies=True)).first()
    return bool(lead and lead[0])


def _stamp(generation: str | None) -> str:
    return generation or "0"


def current_stamp() -> str | None:
    """The generation to stamp facts with, read *before* reading them (None without Redis): a
    change committed in between then makes the stamp stale instead of being missed."""
    try:
        return _stamp(get_redis().get(GENERATION_KEY))
    except redis.RedisError:
        return None


def store(conv: Conversation, agent, *, stamp: str | None, active_lead_id=None) -> None:
    """Write a new conversation's claim (and, when a lead just started it, that the lead is
    active), so even its first stream open needs no database. `stamp` is `current_stamp()` from
    before the facts were read."""
    if stamp is None:
        return
    try:
        r = get_redis()
        claim = _claim_of(conv, embed.agent_origins(agent))
        pipe = r.pipeline(transaction=False)
        pipe.set(CLAIM_PREFIX + claim.conversation_id, json.dumps({"g": stamp, **claim.__dict__}), ex=TTL)
        if active_lead_id is not None:
            pipe.set(LEAD_PREFIX + str(active_lead_id), json.dumps({"g": stamp, "active": True}), ex=TTL)
        pipe.execute()
    except redis.RedisError:
        log.warning("could not store the stream claim of %s", conv.id, exc_info=True)


def authorize(conversation_id: str, principal: Principal) -> Claim:
    """The claim of a conversation `principal` may stream, with the errors `service.load` gives:
    401 LEAD_INACTIVE for a deactivated lead, 404 for a missing or unreachable conversation, 403
    for a browser origin outside the agent's allow-list."""
    try:
        key = uuid.UUID(str(conversation_id))
    except (ValueError, TypeError):
        raise NotFound("Conversation not found")
    lead_id = principal.lead_id if principal.kind == "lead" else None
    keys = [CLAIM_PREFIX + str(key), GENERATION_KEY] + ([LEAD_PREFIX + str(lead_id)] if lead_id else [])
    try:
        r = get_redis()
        raw_claim, generation, *raw_lead = r.mget(*keys)
    except redis.RedisError:
        r, raw_claim, generation, raw_lead = None, None, None, []
    stamp = _stamp(generation)

    if lead_id is not None:
        entry = _cached(raw_lead[0] if raw_lead else None, stamp)
        active = entry.get("active") if entry is not None else None
        if not isinstance(active, bool):
            active = _load_lead_active(lead_id)
            _put(r, LEAD_PREFIX + str(lead_id), {"g": stamp, "active": active})
        if not active:
            raise Unauthorized("This visitor session is no longer valid", code="LEAD_INACTIVE")

    claim = _claim_from(_cached(raw_claim, stamp))
    if claim is None:
        claim = _load_claim(key)
        if claim is None:
            raise NotFound("Conversation not found")
        _put(r, CLAIM_PREFIX + str(key), {"g": stamp, **claim.__dict__})
    if not claim.reachable_by(principal):
        raise NotFound("Conversation not found")
    if principal.kind == "lead":
        embed.check_allowed(list(claim.origins), principal.origin)
    return claim


def _claim_from(cached: dict | None) -> Claim | None:
    """A cached claim, or None when absent or not of this code's shape (written by another version)."""
    if cached is None:
        return None
    try:
        fields = {k: v for k, v in cached.items() if k != "g"}
        return Claim(**{**fields, "origins": tuple(fields["origins"])})
    except (TypeError, KeyError):
        return None


def _cached(raw, stamp: str) -> dict | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) and value.get("g") == stamp else None


def _put(r, key: str, value: dict) -> None:
    if r is None:
        return
    try:
        r.set(key, json.dumps(value), ex=TTL)
    except redis.RedisError:
        pass


def invalidate() -> None:
    """Every claim and lead entry is read again at its next open (after bulk statements)."""
    try:
        # A fresh random value, not a counter: a counter that restarts (its key lost) would make
        # entries stamped before the restart look current again.
        get_redis().set(GENERATION_KEY, uuid.uuid4().hex)
    except (redis.RedisError, RuntimeError):
        log.warning("could not invalidate the stream claims; they expire within %d s", TTL, exc_info=True)


# The fields whose change must reach the next stream open. Bookkeeping columns (a conversation's
# message count and last activity, a lead's last activity) change all the time and do not.
_WATCHED = {
    Conversation: ("company_id", "entity_type", "entity_id", "visitor_session_id", "agent_id", "deleted_at"),
    Lead: ("company_id", "is_active", "deleted_at"),
    Agent: ("company_id", "llm_settings_id"),
    LLMSettings: ("widget_config", "deleted_at"),
}


after_committed_change(_WATCHED, invalidate, key="knowrithm_stream_claims_changed")
