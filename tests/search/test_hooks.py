"""The documents domain announces finished ingestions; search, listening, starts the vector
index of an agent that crossed the size threshold (documents never imports search)."""
from __future__ import annotations

import time
import uuid

from sqlalchemy import select, text

from knowrithm.domains.documents.signals import chunks_indexed
from knowrithm.infra.db import db
from knowrithm.infra.tasks import TaskRecord
from knowrithm.infra.tenancy import company_scope
from tests.search.test_search import KB, _upload

BUILD = "knowrithm.maintenance.build_vector_index"


def _build_records() -> list[TaskRecord]:
    return list(db.session.execute(select(TaskRecord).where(TaskRecord.name == BUILD)
                                   .execution_options(all_companies=True)).scalars())


def test_an_ingestion_past_the_threshold_builds_the_agents_index(app, companies, celery_worker, sdk_a, agent_a,
                                                                 tmp_path, monkeypatch):
    _upload(sdk_a, agent_a, tmp_path, KB)
    company = companies[0].company_id
    with app.app_context(), company_scope(company):
        # Below the threshold (the default), a finished ingestion queues no build.
        before = len(_build_records())
        chunks_indexed.send(str(agent_a), company_id=str(company))
        assert len(_build_records()) == before

        monkeypatch.setattr(app.config["SETTINGS"], "VECTOR_INDEX_MIN_CHUNKS", 1)
        chunks_indexed.send(str(agent_a), company_id=str(company))
        records = _build_records()
        assert len(records) == before + 1
        record_id = records[-1].id
        db.session.remove()

    deadline = time.time() + 60
    with app.app_context():
        while time.time() < deadline:
            state = db.session.get(TaskRecord, record_id).state
            if state in ("SUCCESS", "FAILURE"):
                break
            db.session.remove()
            time.sleep(0.2)
        assert state == "SUCCESS"
        name = db.session.execute(text("SELECT vector_index_name FROM agent_search_stats WHERE agent_id = :a"),
                                  {"a": uuid.UUID(str(agent_a))}).scalar()
        assert name and db.session.execute(text("SELECT indisvalid FROM pg_index WHERE indexrelid = "
                                                "CAST(:n AS regclass)"), {"n": name}).scalar() is True
        db.session.remove()
