"""Testing and cloning an agent, and re-embedding when the embedding model changes."""
from __future__ import annotations

import uuid

import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError

from tests.agents.conftest import add_document, agent_row, db_call, unlink_settings, wait_for


def chunks_of(app, agent_id):
    from sqlalchemy import select

    from knowrithm.domains.documents.models import DocumentChunk
    from knowrithm.infra.db import db

    return db_call(app, lambda: [
        (c.content, c.embedding_model, c.embedding_dim, list(c.embedding) if c.embedding is not None else None)
        for c in db.session.execute(select(DocumentChunk).where(DocumentChunk.agent_id == uuid.UUID(agent_id))
                                    .order_by(DocumentChunk.chunk_index)).scalars()])


# --- test -------------------------------------------------------------------------------

def test_test_agent_runs_the_offline_model(sdk_a, make_agent):
    created = make_agent(sdk_a, name="Tester")["agent"]
    result = sdk_a.agents.test_agent(created["id"], query="What is the refund policy?")
    assert result["status"] == "success" and result["http_status"] == 200 and result["message"]
    data = result["data"]
    assert set(data) >= {"agent", "query", "response", "citations", "llm_config", "metadata"}
    assert data["agent"]["name"] == "Tester" and data["query"] == "What is the refund policy?"
    # No documents: the extractive answerer says it does not know instead of inventing.
    assert "don't know" in result["response"] and data["response"] == result["response"]
    assert data["citations"] == [] and data["metadata"]["all_sources"] == []
    assert data["metadata"]["cited_sources"] == [] and data["metadata"]["warnings"] == []
    assert data["llm_config"]["provider"] == "Knowrithm Local" and data["llm_config"]["model"]


def test_test_agent_answers_from_the_agents_documents(app, sdk_a, make_agent):
    created = make_agent(sdk_a, name="Grounded")["agent"]
    add_document(app, created, ["Refunds are issued within five business days of the return.",
                                "Our office is located in Lisbon, Portugal."])
    result = sdk_a.agents.test_agent(created["id"], query="How long do refunds take?")
    data = result["data"]
    assert "five business days" in result["response"] and "[Source" in result["response"]
    assert data["metadata"]["cited_sources"] and data["metadata"]["all_sources"]
    cited = [c for c in data["citations"] if c["cited"]]
    assert cited and cited[0]["document_name"] and data["metadata"]["warnings"] == []


def test_test_agent_without_a_query_uses_a_default_prompt(sdk_a, make_agent):
    created = make_agent(sdk_a)["agent"]
    result = sdk_a.agents.test_agent(created["id"])
    assert result["data"]["query"] and result["response"]


def test_test_agent_needs_only_read_access(sdk_a, sdk_for, make_agent, companies):
    created = make_agent(sdk_a)["agent"]
    reader = sdk_for(companies[0], scopes=("read",))
    assert reader.agents.test_agent(created["id"], query="hi")["status"] == "success"


def test_configuration_errors_fail_the_task_with_a_string(app, sdk_a, make_agent):
    created = make_agent(sdk_a)["agent"]
    unlink_settings(app, created["id"])
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.agents.test_agent(created["id"], query="hi")
    assert "no LLM settings" in err.value.message
    assert isinstance(err.value.response_data["error"], str)
    assert err.value.response_data["status"] == "failed"


def test_test_agent_bad_input_and_other_company(http, key_headers, sdk_a, sdk_b, make_agent):
    created = make_agent(sdk_a)["agent"]
    resp = http.post(f"/api/v1/agent/{created['id']}/test", json={"query": "x" * 5000}, headers=key_headers)
    assert resp.status_code == 400 and "query" in resp.json()["details"]
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_b.agents.test_agent(created["id"], query="hi")
    assert err.value.status_code == 404


# --- clone ------------------------------------------------------------------------------

def test_clone_copies_settings_and_knowledge(app, sdk_a, make_agent):
    source = make_agent(sdk_a, name="Original", description="Knows refunds", languages=["en", "es"],
                        llm_temperature=0.7)["agent"]
    add_document(app, source, ["Refunds are issued within five business days.", "Shipping is free over $50."])
    clone = sdk_a.agents.clone_agent(source["id"], name="Copy")
    assert clone["id"] == clone["clone_agent_id"] == clone["agent"]["id"] and clone["name"] == "Copy"
    agent = clone["agent"]
    assert agent["id"] != source["id"] and agent["status"] == "inactive"
    assert agent["description"] == "Knows refunds" and agent["languages"] == ["en", "es"]
    # The source's own settings are copied (not shared), with the same models and values.
    assert agent["llm_settings_id"] != source["llm_settings_id"] and agent["temperature"] == 0.7
    assert agent["model_name"] == "extractive" and agent["documents"] == 1
    source_chunks, clone_chunks = chunks_of(app, source["id"]), chunks_of(app, agent["id"])
    assert clone_chunks == source_chunks and len(clone_chunks) == 2  # same text, model and vectors
    # The copies are independent rows: deleting the source leaves the clone's knowledge intact.
    sdk_a.agents.delete_agent(source["id"])
    assert len(chunks_of(app, agent["id"])) == 2


def test_clone_default_name_and_settings_override(app, sdk_a, make_agent):
    source = make_agent(sdk_a, name="Base")["agent"]
    other = make_agent(sdk_a, name="Other", llm_temperature=0.1)["agent"]
    clone = sdk_a.agents.clone_agent(source["id"], llm_settings_id=other["llm_settings_id"])
    assert clone["name"] == "Base (copy)" and clone["agent"]["llm_settings_id"] == other["llm_settings_id"]


def test_clone_by_another_company_is_a_404(app, sdk_a, sdk_b, make_agent, companies):
    source = make_agent(sdk_a)["agent"]
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_b.agents.clone_agent(source["id"], name="Stolen")
    assert err.value.status_code == 404
    assert sdk_b.agents.list_agents()["agents"] == []
    assert len(sdk_a.agents.list_agents()["agents"]) == 1


def test_clone_bad_input_is_a_400(sdk_a, sdk_b, make_agent):
    source = make_agent(sdk_a)["agent"]
    b_settings = make_agent(sdk_b)["agent"]["llm_settings_id"]
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.agents.clone_agent(source["id"], llm_settings_id=b_settings)  # another company's settings
    assert err.value.status_code == 400
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.agents.clone_agent(source["id"], name="x" * 300)
    assert err.value.status_code == 400
    assert len(sdk_a.agents.list_agents()["agents"]) == 1


# --- re-embedding -----------------------------------------------------------------------

def test_changing_the_embedding_model_reembeds_in_the_background(app, sdk_a, make_agent, second_local_model):
    agent = make_agent(sdk_a)["agent"]
    add_document(app, agent, ["Refunds are issued within five business days.", "Our office is in Lisbon."])
    before = chunks_of(app, agent["id"])
    assert {c[1] for c in before} == {"local:all-MiniLM-L6-v2"}

    body = sdk_a.agents.update_agent(agent["id"], {"settings": {
        "embedding_provider": "knowrithm", "embedding_model": "sentence-transformers/all-MiniLM-L6-v2"}})
    assert body["agent"]["reembed_status"] in ("pending", "processing", "completed")

    row = wait_for(lambda: (r := agent_row(app, agent["id"])).reembed_status == "completed" and r)
    new_key = "local:sentence-transformers/all-MiniLM-L6-v2"
    assert row.active_embedding_model == new_key
    after = chunks_of(app, agent["id"])
    # Every chunk carries the new model; none is left on the old one (no mixing at retrieval).
    assert {c[1] for c in after} == {new_key} and all(c[2] == 384 for c in after)
    assert [c[0] for c in after] == [c[0] for c in before]
    stats = sdk_a.agents.get_agent_stats(agent["id"])
    assert stats["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_changing_the_embedding_model_without_knowledge_needs_no_task(app, sdk_a, make_agent, second_local_model):
    agent = make_agent(sdk_a)["agent"]
    body = sdk_a.agents.update_agent(agent["id"], {"settings": {
        "embedding_provider": "knowrithm", "embedding_model": "sentence-transformers/all-MiniLM-L6-v2"}})
    assert body["agent"]["reembed_status"] is None
    assert body["agent"]["active_embedding_model"] == "local:sentence-transformers/all-MiniLM-L6-v2"
