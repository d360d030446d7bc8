"""Optional reranking: a cross-encoder served over the Cohere rerank protocol, here a real HTTP
server on loopback that checks the request and scores passages by a rule it is given."""
from __future__ import annotations

import json
import threading

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.search.test_search import KB, _upload


@pytest.fixture
def rerank_server():
    state = {"requests": [], "favour": "", "status": 200}

    @Request.application
    def app(request):
        body = json.loads(request.get_data())
        state["requests"].append({"path": request.path, "auth": request.headers.get("Authorization"), **body})
        if state["status"] != 200:
            return Response("overloaded", status=state["status"])
        results = [{"index": i, "relevance_score": 0.9 if state["favour"] in doc else 0.1}
                   for i, doc in enumerate(body["documents"])]
        results.sort(key=lambda r: -r["relevance_score"])  # the real APIs answer best first
        return Response(json.dumps({"id": "r1", "results": results[: body.get("top_n")]}),
                        mimetype="application/json")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1", state
    server.shutdown()


@pytest.fixture
def reranking(app, rerank_server, monkeypatch):
    base, state = rerank_server
    settings = app.config["SETTINGS"]
    for name, value in {"RERANK_PROVIDER": "cohere", "RERANK_BASE_URL": base, "RERANK_MODEL": "rerank-v3.5",
                        "RERANK_API_KEY": "rk-test", "RERANK_DEPTH": 20}.items():
        monkeypatch.setattr(settings, name, value)
    return state


def test_reranker_reorders_the_fused_results(app, companies, celery_worker, sdk_a, agent_a, tmp_path, reranking):
    docs = _upload(sdk_a, agent_a, tmp_path, KB)
    question = "how long do refunds take"
    reranking["favour"] = "Economy class"  # the cross-encoder prefers the travel passage
    body = sdk_a.analytics.search_documents(question, agent_a, limit=2)
    sent = reranking["requests"][-1]
    assert sent["path"] == "/v1/rerank" and sent["auth"] == "Bearer rk-test"
    assert sent["model"] == "rerank-v3.5" and sent["query"] == question
    assert len(sent["documents"]) == sent["top_n"] >= 3  # up to RERANK_DEPTH fused results, not just 2
    top = body["results"][0]
    assert top["document_id"] == docs["travel.txt"]["id"] and len(body["results"]) == 2
    assert top["score"] == 0.9 and top["metadata"]["rerank_score"] == 0.9
    assert isinstance(top["metadata"]["fused_score"], float)

    reranking["favour"] = "five business days"
    top = sdk_a.analytics.search_documents(question, agent_a, limit=2)["results"][0]
    assert top["document_id"] == docs["billing.md"]["id"]


def test_a_failing_reranker_keeps_the_fused_order(app, companies, celery_worker, sdk_a, agent_a, tmp_path,
                                                  reranking, monkeypatch):
    docs = _upload(sdk_a, agent_a, tmp_path, KB)
    reranking["status"] = 503
    body = sdk_a.analytics.search_documents("how long do refunds take", agent_a, limit=2)
    assert reranking["requests"], "the reranker was asked"
    assert body["results"][0]["document_id"] == docs["billing.md"]["id"]
    assert "rerank_score" not in body["results"][0]["metadata"] and len(body["results"]) == 2


def test_unknown_provider_stops_the_start():
    from knowrithm.config import Settings
    from knowrithm.integrations.rerank import RerankError, get_reranker

    with pytest.raises(RerankError, match="Unknown RERANK_PROVIDER"):
        get_reranker(Settings(_env_file=None, RERANK_PROVIDER="nonesuch"))
    with pytest.raises(RerankError, match="RERANK_BASE_URL"):
        get_reranker(Settings(_env_file=None, RERANK_PROVIDER="cohere"))
    assert get_reranker(Settings(_env_file=None)) is None
