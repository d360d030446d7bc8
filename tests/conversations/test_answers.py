"""Grounded answers over uploaded documents: sources, citations, fallbacks and model failures."""
import socket

import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError

from tests.documents.conftest import wait_documents
from tests.widget.helpers import make_agent

POLICY = ("# Refund policy\n\nRefunds are processed within five business days after we receive the returned item. "
          "Shipping costs are not refunded.\n\n# Opening hours\n\nThe support desk is open Monday to Friday, "
          "9am to 5pm.\n")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _agent_with_policy(app, tenant, sdk, tmp_path):
    agent_id = make_agent(app, tenant)
    doc = tmp_path / "policy.md"
    doc.write_text(POLICY)
    uploaded = sdk.documents.upload_documents(str(agent_id), file_paths=[doc])
    docs = wait_documents(sdk, [d["id"] for d in uploaded["documents"]])
    assert all(d["status"] == "processed" for d in docs.values())
    return agent_id


def _use_unreachable_model(app, tenant, agent_id, fallbacks=()):
    from knowrithm.domains.llm.service import create_settings
    from knowrithm.infra.db import db
    from knowrithm.infra.tenancy import company_scope

    with app.app_context(), company_scope(tenant.company_id):
        create_settings(company_id=tenant.company_id, agent_id=str(agent_id), llm_provider="ollama",
                        llm_model="llama3.1", embedding_provider="knowrithm", embedding_model="all-MiniLM-L6-v2",
                        llm_api_base_url=f"http://127.0.0.1:{_closed_port()}/v1", fallback_models=list(fallbacks))
        db.session.commit()
        db.session.remove()


def test_answer_cites_the_uploaded_document(app, companies, sdk_a, celery_worker, tmp_path):
    agent_id = _agent_with_policy(app, companies[0], sdk_a, tmp_path)
    conv_id = sdk_a.conversations.create_conversation(str(agent_id))["id"]
    result = sdk_a.messages.send_message(conv_id, "How long do refunds take?")
    assert "five business days" in result["content"] and result["answered"] is True
    assert result["response"] == result["content"] and result["model_used"] == "extractive"
    cited = result["metadata"]["cited_sources"]
    assert cited and all(isinstance(n, int) for n in cited)
    assert f"[Source {cited[0]}]" in result["content"]
    source = next(s for s in result["sources"] if s["source_number"] == cited[0])
    assert source["cited"] is True and source["document_name"]
    assert result["all_sources"][cited[0] - 1].startswith(f"Source {cited[0]}: ")
    assert result["message"]["tokens_used"] > 0 and result["processing_time"] >= 0
    # Confidence comes from the cited passage's similarity to the question (engine.confidence).
    assert 0 < result["message"]["confidence_score"] <= 1

    # An unrelated question is recorded as unanswered, and the agent says it does not know.
    other = sdk_a.messages.send_message(conv_id, "Which rocket engines power the Saturn V?")
    assert other["answered"] is False and "know" in other["content"].lower()
    assert other["metadata"]["cited_sources"] == []
    assert other["message"]["confidence_score"] == 0.0


def test_fallback_model_answers_when_the_primary_is_down(app, companies, sdk_a, celery_worker, tmp_path):
    agent_id = _agent_with_policy(app, companies[0], sdk_a, tmp_path)
    _use_unreachable_model(app, companies[0], agent_id, fallbacks=[{"provider": "knowrithm", "model": "extractive"}])
    conv_id = sdk_a.conversations.create_conversation(str(agent_id))["id"]
    result = sdk_a.messages.send_message(conv_id, "When is the support desk open?")
    assert result["model_used"] == "extractive" and "Monday to Friday" in result["content"]


def test_model_failure_is_a_failed_response_and_keeps_the_question(app, companies, sdk_a, celery_worker, tmp_path):
    agent_id = _agent_with_policy(app, companies[0], sdk_a, tmp_path)
    _use_unreachable_model(app, companies[0], agent_id)
    conv_id = sdk_a.conversations.create_conversation(str(agent_id))["id"]

    stream = sdk_a.messages.send_message(conv_id, "How long do refunds take?", stream=True, stream_timeout=60)
    response = None
    for event in stream:
        if event.event == "chat_response":
            response = event.data
            break
    stream.close()
    assert response["status"] == "failed" and response["message_id"] == stream.message_id
    assert response["error"] and response["message"] is None

    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.resolve_async_task({"status": "queued", "task_id": stream.task_id,
                                  "status_url": f"/api/v1/tasks/{stream.task_id}/status"})
    assert "llama3.1" in str(err.value)
    messages = sdk_a.conversations.list_conversation_messages(conv_id)["messages"]
    assert [(m["role"], m["status"]) for m in messages] == [("user", "failed")]
    assert messages[0]["content"] == "How long do refunds take?"
