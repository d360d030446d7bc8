"""Creating agents (flat ids, nested names, company default) and bad input."""
from __future__ import annotations

import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError

from tests.agents.conftest import agent_row, db_call
from tests.conftest import poll_task

# Every key of the SDK's Agent object.
AGENT_KEYS = {"id", "company_id", "name", "description", "avatar_url", "status", "model_name", "llm_settings_id",
              "personality_traits", "capabilities", "operating_hours", "languages", "temperature", "max_tokens",
              "embed_code", "last_trained", "total_conversations", "total_messages", "average_rating", "documents",
              "databases", "created_at", "updated_at"}


def count_agents(app, company_id) -> int:
    from sqlalchemy import func, select

    from knowrithm.domains.agents.models import Agent
    from knowrithm.infra.db import db

    return db_call(app, lambda: db.session.execute(
        select(func.count(Agent.id)).where(Agent.company_id == company_id)
        .execution_options(include_deleted=True)).scalar_one())


def test_create_agent_with_ids_is_resolved_by_sdk_polling(app, sdk_a, companies, catalog, celery_worker):
    result = sdk_a.agents.create_agent({
        "name": "Support Bot", "description": "Answers billing questions", "languages": ["en", "fr"],
        "capabilities": ["faq"], "personality_traits": {"tone": "friendly"}, "system_prompt": "Be brief.",
        **catalog, "llm_temperature": 0.2, "llm_max_tokens": 300,
    })
    agent, settings = result["agent"], result["settings"]
    assert AGENT_KEYS <= set(agent)
    assert agent["name"] == "Support Bot" and agent["company_id"] == str(companies[0].company_id)
    assert agent["model_name"] == "extractive" and agent["status"] == "active"
    assert agent["languages"] == ["en", "fr"] and agent["capabilities"] == ["faq"]
    assert agent["personality_traits"] == {"tone": "friendly"}
    assert agent["temperature"] == 0.2 and agent["max_tokens"] == 300
    assert agent["total_conversations"] == 0 and agent["total_messages"] == 0
    assert "window.AIChatWidget" in agent["embed_code"]
    assert settings["id"] == agent["llm_settings_id"]
    assert settings["llm_model_name"] == "extractive" and settings["embedding_model_name"] == "all-MiniLM-L6-v2"
    assert settings["agent_id"] == agent["id"]
    row = agent_row(app, agent["id"])
    assert row.system_prompt == "Be brief." and row.active_embedding_model == "local:all-MiniLM-L6-v2"


def test_create_with_provider_names_is_case_insensitive(sdk_a, catalog, celery_worker):
    result = sdk_a.agents.create_agent_with_provider_names(
        {"name": "Named"},
        settings={"llm_provider": "KNOWRITHM LOCAL", "llm_model": "Extractive", "embedding_provider": "knowrithm",
                  "embedding_model": "all-minilm-l6-v2", "llm_temperature": 0.1},
    )
    assert result["agent"]["name"] == "Named"
    assert result["settings"]["llm_provider_label"] == "Knowrithm Local"
    assert result["settings"]["llm_temperature"] == 0.1
    assert result["agent"]["llm_settings_id"] == result["settings"]["id"]


def test_post_agent_with_only_a_name_uses_the_company_default(http, key_headers, catalog, celery_worker):
    # The CLI sends name/description only to the ID-based route (D-13).
    resp = http.post("/api/v1/agent", json={"name": "CLI agent", "description": "made by the CLI"},
                     headers=key_headers)
    assert resp.status_code == 202
    ack = resp.json()
    assert ack["status"] == "accepted" and ack["status_url"] == f"/api/v1/tasks/{ack['task_id']}/status"
    body = poll_task(http, ack["status_url"])
    assert body["status"] == "completed"
    agent, settings = body["result"]["agent"], body["result"]["settings"]
    assert agent["name"] == "CLI agent" and settings["is_default"] is True
    assert agent["llm_settings_id"] == settings["id"] and agent["model_name"] == "extractive"


def test_post_agent_with_flat_ids(http, key_headers, catalog, celery_worker):
    resp = http.post("/api/v1/agent", json={"name": "TS agent", **catalog}, headers=key_headers)
    assert resp.status_code == 202
    result = poll_task(http, resp.json()["status_url"])["result"]
    assert result["settings"]["agent_id"] == result["agent"]["id"]
    assert result["settings"]["is_default"] is False


def test_missing_name_is_a_400(app, http, key_headers, companies, catalog):
    for path in ("/api/v1/agent", "/api/v1/sdk/agent"):
        resp = http.post(path, json={"description": "nameless", **catalog}, headers=key_headers)
        assert resp.status_code == 400
        body = resp.json()
        assert body["success"] is False and "name" in body["details"]
    resp = http.post("/api/v1/sdk/agent", json={"name": "   ", **catalog}, headers=key_headers)
    assert resp.status_code == 400
    assert count_agents(app, companies[0].company_id) == 0


def test_unknown_provider_names_are_a_400_naming_the_valid_ones(app, sdk_a, companies, catalog):
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.agents.create_agent_with_provider_names(
            {"name": "Broken"},
            settings={"llm_provider": "no-such-vendor", "llm_model": "x", "embedding_provider": "knowrithm",
                      "embedding_model": "all-MiniLM-L6-v2"})
    assert err.value.status_code == 400
    assert "knowrithm" in err.value.message  # the valid providers are listed
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.agents.create_agent_with_provider_names(
            {"name": "Broken"},
            settings={"llm_provider": "knowrithm", "llm_model": "gpt-imaginary", "embedding_provider": "knowrithm",
                      "embedding_model": "all-MiniLM-L6-v2"})
    assert err.value.status_code == 400 and "extractive" in err.value.message
    assert count_agents(app, companies[0].company_id) == 0


def test_embedding_model_as_chat_model_is_a_400(app, sdk_a, companies, catalog):
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.agents.create_agent({"name": "Wrong type", **catalog, "llm_model_id": catalog["embedding_model_id"]})
    assert err.value.status_code == 400
    assert count_agents(app, companies[0].company_id) == 0


def test_bad_field_values_are_a_400(http, key_headers, catalog):
    bad = [{"status": "sleeping"}, {"languages": 5}, {"llm_temperature": 7}, {"capabilities": {"a": 1}},
           {"name": "x" * 300}]
    for extra in bad:
        resp = http.post("/api/v1/sdk/agent", json={"name": "X", **catalog, **extra}, headers=key_headers)
        assert resp.status_code == 400, extra
        assert resp.json()["details"]


def test_another_companys_settings_cannot_be_used(app, sdk_a, sdk_b, make_agent, companies):
    a_settings = make_agent(sdk_a)["settings"]["id"]
    # The ID-based route (the Python SDK has no method for it) with A's settings id.
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_b._make_request("POST", "/agent", data={"name": "Thief", "llm_settings_id": a_settings})
    assert err.value.status_code == 400 and err.value.error_code == "UNKNOWN_SETTINGS"
    assert count_agents(app, companies[1].company_id) == 0


def test_company_id_in_body_is_ignored_for_non_super_admins(sdk_b, make_agent, companies):
    result = make_agent(sdk_b, name="Mine", company_id=str(companies[0].company_id))
    assert result["agent"]["company_id"] == str(companies[1].company_id)


def test_super_admin_creates_for_a_named_company(http, super_admin_token, companies, catalog, celery_worker):
    auth = {"Authorization": f"Bearer {super_admin_token}"}
    resp = http.post("/api/v1/sdk/agent", json={"name": "Ops", "company_id": str(companies[1].company_id), **catalog},
                     headers=auth)
    assert resp.status_code == 202
    result = poll_task(http, resp.json()["status_url"])["result"]
    assert result["agent"]["company_id"] == str(companies[1].company_id)


def test_read_only_key_cannot_create(sdk_for, companies, catalog):
    sdk = sdk_for(companies[0], scopes=("read",))
    with pytest.raises(KnowrithmAPIError) as err:
        sdk.agents.create_agent({"name": "Nope", **catalog})
    assert err.value.status_code == 403
