"""Fixtures for the agent tests: catalog ids, agents made through the SDK, rows made directly."""
from __future__ import annotations

import time
import uuid

import pytest


@pytest.fixture
def catalog(app):
    """Ids of the offline Knowrithm Local models (the catalog is re-seeded: truncation may wipe it)."""
    from sqlalchemy import select

    from knowrithm.domains.llm.models import Provider, ProviderModel
    from knowrithm.domains.llm.seed import seed
    from knowrithm.infra.db import db

    with app.app_context():
        seed()
        provider = db.session.execute(select(Provider).where(Provider.value == "knowrithm",
                                                             Provider.company_id.is_(None))).scalar_one()
        models = {m.name: m for m in db.session.execute(
            select(ProviderModel).where(ProviderModel.provider_id == provider.id)).scalars()}
        ids = {"llm_provider_id": str(provider.id), "llm_model_id": str(models["extractive"].id),
               "embedding_provider_id": str(provider.id),
               "embedding_model_id": str(models["all-MiniLM-L6-v2"].id)}
        db.session.remove()
    return ids


@pytest.fixture
def make_agent(catalog, celery_worker):
    """`make_agent(sdk, name=..., **fields)` creates an agent through `agents.create_agent` (async, polled)."""

    def make(sdk, name: str = "Support Bot", **fields):
        return sdk.agents.create_agent({"name": name, **catalog, **fields})

    return make


@pytest.fixture
def second_local_model(app, catalog, companies):
    """A company model on the offline provider under another name: same weights, another model key."""
    from knowrithm.domains.llm.models import ProviderModel
    from knowrithm.infra.db import db

    def add():
        row = ProviderModel(provider_id=uuid.UUID(catalog["embedding_provider_id"]), company_id=companies[0].company_id,
                            name="sentence-transformers/all-MiniLM-L6-v2", model_type="embedding",
                            embedding_dimension=384, status="active", currency="USD")
        db.session.add(row)
        db.session.commit()
        return str(row.id)

    return db_call(app, add)


@pytest.fixture
def key_headers(app, companies):
    """Raw API-key headers for tenant A (routes the Python SDK does not call)."""
    from tests.conftest import make_api_key

    key, secret = make_api_key(app, companies[0])
    return {"X-API-Key": key, "X-API-Secret": secret}


def db_call(app, fn):
    """Runs `fn()` in an app context (no company scope: tests see every row) and returns its result."""
    from knowrithm.infra.db import db

    with app.app_context():
        try:
            return fn()
        finally:
            db.session.remove()


def unlink_settings(app, agent_id: str) -> None:
    """Leaves the agent without LLM settings (a configuration only a direct write can make)."""
    from sqlalchemy import update

    from knowrithm.domains.agents.models import Agent
    from knowrithm.infra.db import db

    def unlink():
        db.session.execute(update(Agent).where(Agent.id == uuid.UUID(agent_id)).values(llm_settings_id=None))
        db.session.commit()

    db_call(app, unlink)


def agent_row(app, agent_id):
    from sqlalchemy import select

    from knowrithm.domains.agents.models import Agent
    from knowrithm.infra.db import db

    def load():
        row = db.session.execute(select(Agent).where(Agent.id == uuid.UUID(str(agent_id)))
                                 .execution_options(include_deleted=True)).scalar_one_or_none()
        if row is not None:
            db.session.expunge(row)
        return row

    return db_call(app, load)


def add_conversation(app, agent: dict, *, status: str = "active", messages: int = 0, rating=None) -> str:
    from knowrithm.domains.conversations.models import Conversation, Message
    from knowrithm.infra.db import db

    def add():
        conv = Conversation(company_id=uuid.UUID(agent["company_id"]), agent_id=uuid.UUID(agent["id"]),
                            title="Hello", status=status, lead_satisfaction=rating)
        db.session.add(conv)
        db.session.flush()
        for n in range(messages):
            db.session.add(Message(company_id=conv.company_id, conversation_id=conv.id, agent_id=conv.agent_id,
                                   role="user" if n % 2 == 0 else "assistant", content=f"message {n}"))
        db.session.commit()
        return str(conv.id)

    return db_call(app, add)


def add_document(app, agent: dict, texts: list[str], *, embed: bool = True) -> str:
    """A processed document with chunks embedded by the offline model (as ingestion would)."""
    from knowrithm.domains.documents.models import Document, DocumentChunk
    from knowrithm.infra.db import db
    from knowrithm.integrations.embeddings.base import EmbeddingConfig, get_embedder

    embedder = get_embedder("local", EmbeddingConfig(model="all-MiniLM-L6-v2"))
    vectors = embedder.embed_documents(texts) if embed else [None] * len(texts)

    def add():
        company_id, agent_id = uuid.UUID(agent["company_id"]), uuid.UUID(agent["id"])
        doc = Document(company_id=company_id, agent_id=agent_id, original_filename="faq.txt", filename="faq.txt",
                       title="FAQ", document_type="txt", file_size=sum(map(len, texts)), status="processed",
                       storage_path="/tmp/does-not-matter/faq.txt")
        db.session.add(doc)
        db.session.flush()
        for n, (text, vector) in enumerate(zip(texts, vectors)):
            db.session.add(DocumentChunk(company_id=company_id, agent_id=agent_id, document_id=doc.id, chunk_index=n,
                                         content=text, word_count=len(text.split()), embedding=vector,
                                         embedding_model=embedder.model_key if embed else None,
                                         embedding_dim=len(vector) if vector else None))
        db.session.commit()
        return str(doc.id)

    return db_call(app, add)


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2):
    """Polls until `predicate()` returns something truthy (a deadline, not a speed assertion)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not reached before the deadline")
