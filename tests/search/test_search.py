"""K1 `POST /search/document` through `analytics.search_documents`, and `search_chunks` (chat's retrieval)."""
from __future__ import annotations

import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError

from tests.documents.conftest import create_agent, wait_documents

KB = {
    "billing.md": b"# Billing\n\nInvoices are sent on the first day of each month.\n\n## Refunds\n\n"
                  b"Refunds are processed within five business days after approval.",
    "security.md": b"# Security\n\nAll customer data is encrypted at rest with AES-256.\n\n"
                   b"Two-factor authentication is mandatory for administrators.",
    "travel.txt": b"Employees book flights through the travel portal. Economy class is the default.",
}


def _upload(sdk, agent_id, tmp_path, named):
    paths = []
    for name, data in named.items():
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    body = sdk.documents.upload_documents(agent_id, file_paths=paths)
    docs = wait_documents(sdk, [d["id"] for d in body["documents"]])
    assert all(d["status"] == "processed" for d in docs.values())
    return {d["original_filename"]: d for d in docs.values()}


@pytest.fixture
def kb(app, companies, celery_worker, sdk_a, agent_a, tmp_path):
    return _upload(sdk_a, agent_a, tmp_path, KB)


def test_search_returns_contract_shape_and_best_match_first(sdk_a, agent_a, kb):
    body = sdk_a.analytics.search_documents("how long do refunds take", agent_a, limit=5)
    assert body["query"] == "how long do refunds take" and isinstance(body["execution_time"], float)
    assert body["total_results"] == len(body["results"]) >= 1
    top = body["results"][0]
    assert top["document_id"] == kb["billing.md"]["id"] and "five business days" in top["content"]
    for key in ("id", "chunk_id", "document_id", "document_name", "chunk_index", "content", "text", "score",
                "source_url", "page_number", "heading_path", "metadata", "word_count", "embedding_model",
                "created_at"):
        assert key in top
    assert top["text"] == top["content"] and top["heading_path"] == "Billing > Refunds"
    assert top["document_name"] == "Billing"  # the title, from the first heading
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)


def test_semantic_match_without_shared_keywords(sdk_a, agent_a, kb):
    # No lexeme of the query appears in the security document: only the vector side can find it.
    top = sdk_a.analytics.search_documents("is my information protected with cryptography", agent_a)["results"][0]
    assert top["document_id"] == kb["security.md"]["id"]
    assert top["metadata"]["keyword_rank"] is None and top["metadata"]["vector_rank"] == 1


def test_limit_and_include_content(http, app, companies, agent_a, kb):
    from tests.conftest import make_api_key

    key, secret = make_api_key(app, companies[0], scopes=("read",))  # read scope suffices (D-19)
    headers = {"X-API-Key": key, "X-API-Secret": secret}
    resp = http.post("/api/v1/search/document", headers=headers,
                     json={"query": "refunds invoices", "agent_id": agent_a, "limit": 1, "include_content": "false"})
    assert resp.status_code == 200
    body = resp.json()
    assert len(body["results"]) == 1 and "content" not in body["results"][0]


def test_search_filters_by_document(sdk_a, agent_a, kb):
    only = kb["travel.txt"]["id"]
    body = sdk_a._make_request("POST", "/search/document",
                               data={"query": "refunds", "agent_id": agent_a, "document_ids": [only]})
    assert body["results"] and {r["document_id"] for r in body["results"]} == {only}


def test_search_chunks_for_chat(app, companies, agent_a, kb):
    from knowrithm.domains.search.service import search_chunks
    from knowrithm.infra.tenancy import company_scope

    with app.app_context(), company_scope(companies[0].company_id):
        results = search_chunks(agent_id=agent_a, query="two-factor administrators", limit=2)
        assert results[0]["document_id"] == kb["security.md"]["id"] and len(results) <= 2
        assert set(results[0]) >= {"chunk_id", "document_id", "document_name", "chunk_index", "content", "score",
                                   "source_url", "page_number", "heading_path", "metadata"}
        keyword = search_chunks(agent_id=agent_a, query="flights portal", mode="keyword")
        assert keyword[0]["document_id"] == kb["travel.txt"]["id"]
        assert search_chunks(agent_id=agent_a, query="   ") == []
    with app.app_context(), company_scope(companies[1].company_id):
        from knowrithm.infra.errors import NotFound

        with pytest.raises(NotFound):
            search_chunks(agent_id=agent_a, query="refunds")


def test_other_company_gets_404_and_never_sees_chunks(app, companies, sdk_a, sdk_b, agent_a, kb, tmp_path):
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_b.analytics.search_documents("refunds", agent_a)
    assert err.value.status_code == 404
    # B's own agent with the same words only ever returns B's chunks.
    agent_b = create_agent(app, companies[1], "B bot")
    b_docs = _upload(sdk_b, agent_b, tmp_path, {"b-billing.md": KB["billing.md"] + b"\n\nGlobex edition."})
    results = sdk_b.analytics.search_documents("refunds business days", agent_b, limit=50)["results"]
    assert results and {r["document_id"] for r in results} == {b_docs["b-billing.md"]["id"]}


def test_search_never_crosses_agents(app, companies, sdk_a, agent_a, kb, tmp_path):
    other = create_agent(app, companies[0], "Other agent")
    other_docs = _upload(sdk_a, other, tmp_path, {"other.txt": b"Refunds for the other agent take one hour."})
    in_a = sdk_a.analytics.search_documents("refunds", agent_a, limit=50)["results"]
    in_other = sdk_a.analytics.search_documents("refunds", other, limit=50)["results"]
    assert other_docs["other.txt"]["id"] not in {r["document_id"] for r in in_a}
    assert {r["document_id"] for r in in_other} == {other_docs["other.txt"]["id"]}


def test_bad_input_is_400(http, app, companies, agent_a):
    from tests.conftest import make_api_key

    key, secret = make_api_key(app, companies[0])
    headers = {"X-API-Key": key, "X-API-Secret": secret}
    for payload in ({"agent_id": agent_a}, {"query": "x"}, {"query": "  ", "agent_id": agent_a},
                    {"query": "x", "agent_id": "nope"}, {"query": "x", "agent_id": agent_a, "limit": 0}):
        resp = http.post("/api/v1/search/document", headers=headers, json=payload)
        assert resp.status_code == 400, payload
        assert resp.json()["success"] is False and resp.json()["details"]


def test_unknown_agent_is_404(sdk_a, companies):
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.analytics.search_documents("anything", "00000000-0000-0000-0000-000000000000")
    assert err.value.status_code == 404


@pytest.mark.parametrize("fusion", ["rrf", "convex"])
def test_every_ranking_mode_agrees_on_a_clear_query(app, companies, agent_a, kb, monkeypatch, fusion):
    from knowrithm.domains.search import service
    from knowrithm.infra.tenancy import company_scope

    monkeypatch.setattr(service, "FUSION", fusion)
    with app.app_context(), company_scope(companies[0].company_id):
        tops = {mode: service.search_chunks(agent_id=agent_a, query="AES-256 encryption at rest", mode=mode)
                for mode in ("keyword", "vector", "hybrid")}
        assert {r[0]["document_id"] for r in tops.values()} == {kb["security.md"]["id"]}, tops
        hybrid = tops["hybrid"]
        assert [r["score"] for r in hybrid] == sorted((r["score"] for r in hybrid), reverse=True)
        assert len({r["chunk_id"] for r in hybrid}) == len(hybrid)


def test_commoner_lexemes_are_looked_up_once_the_postings_budget_is_spent(app, companies, celery_worker, sdk_a,
                                                                       agent_a, tmp_path, monkeypatch):
    """Keyword ranking scans the query's lexemes rarest first. Once the rarer ones can fill the
    pool, a lexeme whose postings would overrun `BUDGET` is only looked up for the candidates
    found so far, which keep their exact BM25. Within the budget it is exact BM25."""
    from knowrithm.domains.search import ranking
    from knowrithm.domains.search.service import search_chunks
    from knowrithm.infra.tenancy import company_scope

    # Every lexeme of the query is in 2 chunks; ties go by name, so "avocado" is read first.
    docs = _upload(sdk_a, agent_a, tmp_path, {"p.txt": b"avocado fig", "q.txt": b"avocado grape",
                                              "x.txt": b"banana cherry date", "y.txt": b"banana kiwi",
                                              "z.txt": b"cherry lemon", "w.txt": b"date mango"})
    query = "avocado banana cherry date"

    def keyword():
        with app.app_context(), company_scope(companies[0].company_id):
            return [(r["document_id"], r["metadata"]["bm25_score"]) for r in
                    search_chunks(agent_id=agent_a, query=query, mode="keyword")]

    exact = keyword()  # defaults: 8 postings in all, far within the budget
    assert len(exact) == 6 and exact[0][0] == docs["x.txt"]["id"]  # the only chunk with 3 of the terms
    exact_scores = dict(exact)

    monkeypatch.setattr(ranking, "BUDGET", 1)
    monkeypatch.setattr(ranking, "POOL", 2)  # "avocado" fills the pool: the rest are looked up
    pruned = keyword()
    assert {d for d, _ in pruned} == {docs["p.txt"]["id"], docs["q.txt"]["id"]}
    assert all(score == exact_scores[d] for d, score in pruned)

    monkeypatch.setattr(ranking, "POOL", 4)  # 2 avocado chunks cannot fill it: "banana" is scanned too
    wider = keyword()
    assert wider[0] == exact[0]  # found through "banana"; "cherry" and "date" added by lookups
    assert len(wider) == 4

    monkeypatch.setattr(ranking, "BUDGET", 8)  # everything fits the budget: exact again
    assert keyword() == exact[:4]
