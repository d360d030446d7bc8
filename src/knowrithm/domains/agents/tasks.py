"""Background work for agents. Tasks take ids, re-load state and are safe to run twice.

Creation and the async update apply their change in the request's transaction (so input
errors are an immediate 400 and provider keys never travel through the broker); their task
confirms the committed state and returns it as the result the clients poll for.
"""
from __future__ import annotations

import uuid

from celery import shared_task
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from knowrithm.domains.audit import service as audit
from knowrithm.domains.conversations import probe
from knowrithm.domains.llm.service import settings_out
from knowrithm.infra.db import db

from . import knowledge, service
from .models import Agent


# Writes retry on a dropped database connection; input errors (ApiError) fail at once.
WRITE_TASK = {"autoretry_for": (OperationalError,), "max_retries": 3, "retry_backoff": True}


@shared_task(name="knowrithm.agents.confirm_agent")
def confirm_agent(agent_id: str, message: str = "Agent saved", with_settings: bool = True,
                  company_id: str | None = None) -> dict:
    agent = service.get_agent(agent_id)
    settings = service.settings_of(agent)
    result = {"message": message, "agent": service.serialise(agent, settings)}
    if with_settings:
        result["settings"] = settings_out(settings) if settings is not None else None
    return result


@shared_task(name="knowrithm.agents.delete_agent", **WRITE_TASK)
def delete_agent(agent_id: str, company_id: str | None = None, actor: dict | None = None) -> dict:
    agent = service.get_agent(agent_id, include_deleted=True)
    service.delete_agent(agent, actor=audit.actor_from_ref(actor))
    db.session.commit()
    return {"message": "Agent deleted successfully", "agent_id": str(agent.id)}


@shared_task(name="knowrithm.agents.restore_agent", **WRITE_TASK)
def restore_agent(agent_id: str, company_id: str | None = None, actor: dict | None = None) -> dict:
    agent = service.get_agent(agent_id, include_deleted=True)
    service.restore_agent(agent, actor=audit.actor_from_ref(actor))
    db.session.commit()
    return {"message": "Agent restored successfully", "agent": service.serialise(agent)}


@shared_task(name="knowrithm.agents.clone_agent", **WRITE_TASK)
def clone_agent(source_id: str, new_id: str, name: str | None = None, description: str | None = None,
                llm_settings_id: str | None = None, company_id: str | None = None, actor: dict | None = None) -> dict:
    key = uuid.UUID(new_id)
    clone = db.session.execute(select(Agent).where(Agent.id == key)
                               .execution_options(include_deleted=True)).scalar_one_or_none()
    if clone is None:  # a second run finds the clone the first one committed
        source = service.get_agent(source_id)
        clone, _ = knowledge.clone_agent(source, new_id=key, name=name, description=description,
                                         llm_settings_id=llm_settings_id, actor=audit.actor_from_ref(actor))
        db.session.commit()
        _reembed_if_stale(clone)
    body = service.serialise(clone)
    return {"message": "Agent cloned successfully", "agent": body, "id": body["id"], "name": body["name"],
            "clone_agent_id": body["id"], "source_agent_id": source_id}


def _reembed_if_stale(agent: Agent) -> None:
    """A clone given other settings holds vectors of the source's model: they are re-embedded."""
    service.refresh_embedding_model(agent)
    db.session.commit()


@shared_task(name="knowrithm.agents.test_agent", soft_time_limit=300, time_limit=330)
def test_agent(agent_id: str, query: str | None = None, company_id: str | None = None) -> dict:
    agent = service.get_agent(agent_id)
    settings = service.settings_of(agent)
    return probe.run_test(agent, settings, query)
