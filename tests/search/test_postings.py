"""The BM25 postings (`chunk_terms`), document frequencies (`agent_terms`) and per-agent totals
(`agent_search_stats`) are kept by database triggers; after every kind of chunk write they must equal a rebuild from scratch."""
from __future__ import annotations

import uuid

from sqlalchemy import text

from knowrithm.infra.db import db
from tests.search.test_search import KB, _upload

EXPECTED_POSTINGS = """
SELECT c.agent_id, u.lexeme, c.id, c.company_id, c.document_id, coalesce(array_length(u.positions, 1), 1),
       (SELECT sum(coalesce(array_length(x.positions, 1), 1)) FROM unnest(c.search_vector) x)::int
FROM document_chunks c, unnest(c.search_vector) u WHERE c.deleted_at IS NULL AND c.agent_id = :agent
ORDER BY 1, 2, 3"""
STORED_POSTINGS = """SELECT agent_id, lexeme, chunk_id, company_id, document_id, tf, dl FROM chunk_terms
WHERE agent_id = :agent ORDER BY 1, 2, 3"""
EXPECTED_DF = """SELECT u.lexeme, count(*) FROM document_chunks c, unnest(c.search_vector) u
WHERE c.deleted_at IS NULL AND c.agent_id = :agent GROUP BY 1 ORDER BY 1"""
STORED_DF = "SELECT lexeme, df FROM agent_terms WHERE agent_id = :agent AND df > 0 ORDER BY 1"
EXPECTED_STATS = """SELECT count(*), coalesce(sum((SELECT sum(coalesce(array_length(x.positions, 1), 1))
FROM unnest(c.search_vector) x)), 0) FROM document_chunks c WHERE c.deleted_at IS NULL AND c.agent_id = :agent"""


def assert_index_exact(app, agent_id) -> int:
    with app.app_context():
        params = {"agent": uuid.UUID(str(agent_id))}
        expected = [tuple(r) for r in db.session.execute(text(EXPECTED_POSTINGS), params)]
        stored = [tuple(r) for r in db.session.execute(text(STORED_POSTINGS), params)]
        assert stored == expected
        assert [tuple(r) for r in db.session.execute(text(STORED_DF), params)] == \
            [tuple(r) for r in db.session.execute(text(EXPECTED_DF), params)]
        n, length = db.session.execute(text(EXPECTED_STATS), params).one()
        stats = db.session.execute(text("SELECT chunk_count, total_length FROM agent_search_stats "
                                        "WHERE agent_id = :agent"), params).one_or_none()
        assert (stats or (0, 0)) == (n, length)
        db.session.remove()
        return n


def keyword_hits(app, company_id, agent_id, query) -> list[str]:
    from knowrithm.domains.search.service import search_chunks
    from knowrithm.infra.tenancy import company_scope

    with app.app_context(), company_scope(company_id):
        return [r["document_id"] for r in search_chunks(agent_id=agent_id, query=query, mode="keyword")]


def test_postings_follow_every_write(app, companies, celery_worker, sdk_a, agent_a, tmp_path):
    kb = _upload(sdk_a, agent_a, tmp_path, KB)
    company = companies[0].company_id
    billing, travel = kb["billing.md"]["id"], kb["travel.txt"]["id"]
    live = assert_index_exact(app, agent_a)
    assert live >= 3
    assert keyword_hits(app, company, agent_a, "flights portal")[0] == travel

    # Soft-deleting a document's chunks removes their postings at once, restoring brings them back.
    sdk_a.documents.delete_document(travel)
    assert assert_index_exact(app, agent_a) < live
    assert travel not in keyword_hits(app, company, agent_a, "flights portal")
    sdk_a.documents.restore_document(travel)
    assert assert_index_exact(app, agent_a) == live
    assert keyword_hits(app, company, agent_a, "flights portal")[0] == travel

    # One chunk on its own.
    with app.app_context():
        chunk_id = db.session.execute(text("SELECT id FROM document_chunks WHERE document_id = :d LIMIT 1"),
                                      {"d": uuid.UUID(billing)}).scalar_one()
        db.session.remove()
    sdk_a.documents.delete_document_chunk(str(chunk_id))
    assert assert_index_exact(app, agent_a) == live - 1
    sdk_a.documents.restore_document_chunk(str(chunk_id))
    assert assert_index_exact(app, agent_a) == live

    # An edit of the text re-indexes it; an update that leaves the text alone changes nothing.
    with app.app_context():
        db.session.execute(text("UPDATE document_chunks SET content = 'Zeppelins carry passengers over lakes.' "
                                "WHERE id = :c"), {"c": chunk_id})
        db.session.execute(text("UPDATE document_chunks SET updated_at = now() WHERE agent_id = :a"),
                           {"a": uuid.UUID(str(agent_a))})
        db.session.commit()
        db.session.remove()
    assert assert_index_exact(app, agent_a) == live
    assert keyword_hits(app, company, agent_a, "zeppelin") == [billing]

    # Hard deletes, including the cascade from the document row.
    with app.app_context():
        db.session.execute(text("DELETE FROM documents WHERE id = :d"), {"d": uuid.UUID(billing)})
        db.session.commit()
        db.session.remove()
    assert 0 < assert_index_exact(app, agent_a) < live
    assert keyword_hits(app, company, agent_a, "zeppelin") == []


def test_a_rolled_back_write_leaves_no_postings(app, companies, celery_worker, sdk_a, agent_a, tmp_path):
    _upload(sdk_a, agent_a, tmp_path, {"travel.txt": KB["travel.txt"]})
    before = assert_index_exact(app, agent_a)
    with app.app_context():
        db.session.execute(text("UPDATE document_chunks SET deleted_at = now() WHERE agent_id = :a"),
                           {"a": uuid.UUID(str(agent_a))})
        db.session.rollback()
        db.session.remove()
    assert assert_index_exact(app, agent_a) == before


def test_concurrent_writers_of_one_agent_never_deadlock(app, companies, celery_worker, sdk_a, agent_a, tmp_path):
    """Two transactions that each rewrite their own document of one agent in several statements
    (shared lexemes, so shared document-frequency rows) serialise on the agent's stats row
    instead of deadlocking on the frequency rows."""
    import threading

    kb = _upload(sdk_a, agent_a, tmp_path, {"billing.md": KB["billing.md"], "travel.txt": KB["travel.txt"]})
    docs = [uuid.UUID(kb["billing.md"]["id"]), uuid.UUID(kb["travel.txt"]["id"])]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def writer(mine, rounds=15):
        try:
            with app.app_context():
                for i in range(rounds):
                    barrier.wait(timeout=30)
                    db.session.execute(text("DELETE FROM document_chunks WHERE document_id = :d"), {"d": mine})
                    db.session.execute(text(
                        "INSERT INTO document_chunks (id, company_id, agent_id, document_id, chunk_index, content, "
                        "word_count, token_count, metadata, created_at, updated_at) "
                        "SELECT gen_random_uuid(), d.company_id, d.agent_id, d.id, g, "
                        "'shared words alpha beta gamma delta round ' || :i || ' chunk ' || g, 5, 5, '{}', now(), now() "
                        "FROM documents d, generate_series(0, 3) g WHERE d.id = :d"), {"d": mine, "i": i})
                    db.session.execute(text("UPDATE document_chunks SET deleted_at = now() WHERE document_id = :d "
                                            "AND chunk_index = 0"), {"d": mine})
                    db.session.execute(text("UPDATE document_chunks SET content = content || ' epsilon' "
                                            "WHERE document_id = :d AND chunk_index = 1"), {"d": mine})
                    db.session.commit()
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=writer, args=(doc,)) for doc in docs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert assert_index_exact(app, agent_a) == 2 * 3  # 4 chunks each, one soft-deleted


def test_large_agent_gets_its_own_hnsw_index_with_the_exact_results(app, companies, celery_worker, sdk_a, agent_a,
                                                                    tmp_path, monkeypatch):
    """Past the size threshold an agent's vectors are searched through its own partial HNSW
    index; on a small agent that returns exactly the exact scan's top results."""
    from knowrithm.domains.search import ranking, tasks, vector_index
    from knowrithm.domains.search.service import search_chunks
    from knowrithm.infra.tenancy import company_scope

    _upload(sdk_a, agent_a, tmp_path, KB)
    settings = app.config["SETTINGS"]
    monkeypatch.setattr(settings, "VECTOR_INDEX_MIN_CHUNKS", 1)
    questions = ["how long do refunds take", "is customer data encrypted", "which class are flights booked in"]
    with app.app_context(), company_scope(companies[0].company_id):
        exact = {q: [r["chunk_id"] for r in search_chunks(agent_id=agent_a, query=q, mode="vector")]
                 for q in questions}
        assert vector_index.agents_needing_index(1) == [uuid.UUID(str(agent_a))]
        result = tasks.vector_indexes.run()  # the beat sweep, in process
        assert result["built"] == [str(agent_a)]
        name = vector_index.index_name(agent_a)
        assert db.session.execute(text("SELECT indisvalid FROM pg_index WHERE indexrelid = CAST(:n AS regclass)"),
                                  {"n": name}).scalar() is True
        index = vector_index.usable_index(uuid.UUID(str(agent_a)), *db.session.execute(text(
            "SELECT vector_index_model, vector_index_dim FROM agent_search_stats WHERE agent_id = :a"),
            {"a": uuid.UUID(str(agent_a))}).one())
        assert index is not None and index.name == name

        # The ranking statement now names the index's expression and predicate; with the plans a
        # tiny table invites (scan + sort) priced out, the planner takes the index, and the
        # answers are the exact ones.
        for setting in ("enable_seqscan", "enable_sort", "enable_bitmapscan"):
            db.session.execute(text(f"SET LOCAL {setting} = off"))
        sql = ranking.build_sql("vector", with_documents=False, index=index, agent_id=agent_a)
        assert f"::vector({index.dim})" in sql and str(agent_a) in sql
        from knowrithm.domains.llm.embedding import agent_embedder
        from knowrithm.domains.agents.models import Agent

        vector = agent_embedder(db.session.get(Agent, uuid.UUID(str(agent_a)))).embed_query(questions[0])
        plan = "\n".join(db.session.execute(text("EXPLAIN " + sql), {
            "company": companies[0].company_id, "agent": uuid.UUID(str(agent_a)), "limit": 10, "candidates": 100,
            "qvec": "[" + ",".join(f"{x:.7g}" for x in vector) + "]", "model": index.model, "dim": index.dim,
        }).scalars())
        assert f"Index Scan using {name}" in plan, plan
        for q in questions:
            assert [r["chunk_id"] for r in search_chunks(agent_id=agent_a, query=q, mode="vector")] == exact[q]
        db.session.rollback()

        # An index no agent points at any more (its agent was deleted) goes with the next sweep.
        db.session.execute(text("UPDATE agent_search_stats SET vector_index_name = NULL WHERE agent_id = :a"),
                           {"a": uuid.UUID(str(agent_a))})
        db.session.commit()
        assert vector_index.drop_orphans() == [name]
        assert db.session.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar() is None
        db.session.remove()
