"""Copying an agent's knowledge when it is cloned.

Cloning copies rows instead of linking them: documents, chunks and database connections
each belong to exactly one agent (`agent_id`), so a clone gets its own copies, vectors
included, and the two agents can diverge afterwards. Stored files are shared (the copy's
`storage_path` points at the same immutable upload). Re-embedding after a model change is
the documents domain's task (`knowrithm.documents.reembed_agent`).
"""
from __future__ import annotations

import uuid

from sqlalchemy import Table, Uuid, func, inspect, literal, select

from knowrithm.domains.audit import service as audit
from knowrithm.domains.databases.models import DatabaseConnection, DatabaseTable
from knowrithm.domains.documents.models import Document, DocumentChunk
from knowrithm.domains.llm.models import LLMSettings
from knowrithm.infra.auth import Principal
from knowrithm.infra.db import db

from . import service
from .models import Agent

_COPIED_AGENT_FIELDS = ("description", "avatar_url", "system_prompt", "personality_traits", "capabilities",
                        "operating_hours", "languages", "active_embedding_model", "last_trained")


def _copy_rows(table: Table, where, overrides: dict) -> int:
    """INSERT ... SELECT of live rows, replacing some columns; vectors never leave the database."""
    columns = [c for c in table.columns if c.computed is None]
    now = func.now()
    values = [overrides.get(c.name, now if c.name in ("created_at", "updated_at") else c) for c in columns]
    stmt = table.insert().from_select([c.name for c in columns],
                                      select(*values).where(where, table.c.deleted_at.is_(None)))
    return db.session.execute(stmt).rowcount or 0


def _uuid_literal(value: uuid.UUID):
    return literal(value, type_=Uuid)


def copy_settings(settings: LLMSettings, *, agent_id: uuid.UUID) -> LLMSettings:
    skip = {"id", "agent_id", "created_at", "updated_at", "deleted_at", "is_default", "last_tested_at"}
    copy = LLMSettings(id=uuid.uuid4(), agent_id=agent_id, is_default=False)
    for attr in inspect(LLMSettings).column_attrs:
        if attr.key not in skip:
            setattr(copy, attr.key, getattr(settings, attr.key))
    db.session.add(copy)
    db.session.flush()  # agents reference settings by FK and no relationship orders the inserts
    return copy


def copy_documents(source_id: uuid.UUID, target_id: uuid.UUID) -> tuple[int, int]:
    docs, chunks = Document.__table__, DocumentChunk.__table__
    doc_ids = list(db.session.execute(select(Document.id).where(Document.agent_id == source_id)).scalars())
    n_chunks = 0
    for old_id in doc_ids:
        new_id = uuid.uuid4()
        # The copy is not tied to the source's crawled page: re-crawls only refresh the original.
        _copy_rows(docs, docs.c.id == old_id, {"id": _uuid_literal(new_id), "agent_id": _uuid_literal(target_id),
                                               "website_page_id": literal(None, type_=Uuid),
                                               "task_id": literal(None, type_=Uuid)})
        n_chunks += _copy_rows(chunks, chunks.c.document_id == old_id,
                               {"id": func.gen_random_uuid(), "document_id": _uuid_literal(new_id),
                                "agent_id": _uuid_literal(target_id)})
    return len(doc_ids), n_chunks


def copy_databases(source_id: uuid.UUID, target_id: uuid.UUID) -> int:
    conns, tables = DatabaseConnection.__table__, DatabaseTable.__table__
    conn_ids = list(db.session.execute(select(DatabaseConnection.id)
                                       .where(DatabaseConnection.agent_id == source_id)).scalars())
    for old_id in conn_ids:
        new_id = uuid.uuid4()
        _copy_rows(conns, conns.c.id == old_id, {"id": _uuid_literal(new_id), "agent_id": _uuid_literal(target_id)})
        _copy_rows(tables, tables.c.connection_id == old_id,
                   {"id": func.gen_random_uuid(), "connection_id": _uuid_literal(new_id)})
    return len(conn_ids)


def clone_agent(source: Agent, *, new_id: uuid.UUID, name: str | None, description: str | None,
                llm_settings_id: str | None, actor: Principal | None) -> tuple[Agent, dict]:
    """A new, inactive agent with the source's configuration, settings and knowledge."""
    clone = Agent(id=new_id, company_id=source.company_id, name=name or f"{source.name} (copy)", status="inactive",
                  created_by=actor.user_id if actor else None)
    for key in _COPIED_AGENT_FIELDS:
        setattr(clone, key, getattr(source, key))
    if description is not None:
        clone.description = description
    if llm_settings_id:
        settings = service.company_settings(llm_settings_id)
    else:
        settings = service.settings_of(source)
        # Settings made for the source alone are copied; shared ones (company default) are linked.
        if settings is not None and settings.agent_id == source.id:
            settings = copy_settings(settings, agent_id=clone.id)
    clone.llm_settings_id = settings.id if settings is not None else None
    db.session.add(clone)
    db.session.flush()
    documents, chunks = copy_documents(source.id, clone.id)
    databases = copy_databases(source.id, clone.id)
    copied = {"documents": documents, "chunks": chunks, "databases": databases}
    audit.record("agent.cloned", actor=actor, company_id=source.company_id, entity_type="agent", entity_id=clone.id,
                 description=f"Agent '{source.name}' cloned as '{clone.name}'",
                 details={"source_agent_id": str(source.id), **copied})
    return clone, copied
