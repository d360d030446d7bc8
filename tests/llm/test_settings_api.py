"""LLM settings through the SDK (`client.settings.*`): contract, tenancy, bad input."""
from __future__ import annotations

import uuid

import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError
from knowrithm_py.services.settings import SettingsService

from tests.integrations.protocol_servers import OpenAIServer

pytestmark = pytest.mark.usefixtures("celery_worker")

LOCAL = {"llm_provider": "knowrithm", "llm_model": "extractive",
         "embedding_provider": "knowrithm", "embedding_model": "all-MiniLM-L6-v2"}


def settings_of(client) -> SettingsService:
    return client.settings


def make_agent(app, tenant, name="Support", settings_id=None):
    from knowrithm.domains.agents.models import Agent
    from knowrithm.infra.db import db

    with app.app_context():
        agent = Agent(company_id=tenant.company_id, name=name, status="active",
                      llm_settings_id=uuid.UUID(settings_id) if settings_id else None,
                      active_embedding_model="local:all-MiniLM-L6-v2" if settings_id else None)
        db.session.add(agent)
        db.session.commit()
        agent_id = str(agent.id)
        db.session.remove()
    return agent_id


def agent_row(app, agent_id):
    from knowrithm.domains.agents.models import Agent
    from knowrithm.infra.db import db

    with app.app_context():
        agent = db.session.get(Agent, uuid.UUID(agent_id))
        db.session.expunge(agent)
        db.session.remove()
    return agent


def catalog(client) -> dict:
    """{(provider value, model name): (provider id, model id)} from GET /settings/providers."""
    body = client.settings.list_settings_providers()
    out = {}
    for group in ("llm_providers", "embedding_providers"):
        for provider in body[group]:
            for model in provider["models"]:
                out[(provider["value"], model["name"])] = (provider["id"], model["id"])
    return out


def test_list_settings_providers_groups_the_catalog(sdk_a):
    body = sdk_a.settings.list_settings_providers()
    llm = {p["value"]: p for p in body["llm_providers"]}
    emb = {p["value"]: p for p in body["embedding_providers"]}
    assert {"openai", "gemini", "anthropic", "ollama", "vllm", "lmstudio", "knowrithm"} <= set(llm)
    assert "anthropic" not in emb
    assert {m["model_type"] for p in llm.values() for m in p["models"]} == {"llm"}
    openai_emb = {m["name"]: m for m in emb["openai"]["models"]}
    assert openai_emb["text-embedding-3-large"]["embedding_dimension"] == 3072
    assert {m["name"] for m in llm["gemini"]["models"]} == {"gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash"}
    assert llm["knowrithm"]["requires_api_key"] is False
    assert llm["ollama"]["default_base_url"] == "http://127.0.0.1:11434/v1"
    assert llm["vllm"]["requires_base_url"] is True
    assert body["metadata"]["total_llm_providers"] == len(body["llm_providers"])
    gpt4o = next(m for m in llm["openai"]["models"] if m["name"] == "gpt-4o")
    assert gpt4o["context_window"] == 128000 and gpt4o["pricing"]["input"] > 0


def test_seed_route_is_idempotent_through_task_polling(sdk_a):
    before = catalog(sdk_a)
    result = sdk_a.settings.seed_settings_providers()
    assert result["providers_created"] == 0 and result["models_created"] == 0
    assert result["providers"] >= 7
    assert catalog(sdk_a) == before


def test_create_settings_by_ids_then_get_update_list(sdk_a, companies):
    ids = catalog(sdk_a)
    llm_p, llm_m = ids[("openai", "gpt-4o-mini")]
    emb_p, emb_m = ids[("knowrithm", "all-MiniLM-L6-v2")]
    result = sdk_a.settings.create_settings(llm_p, llm_m, emb_p, emb_m, llm_api_key="sk-live-abcdef123456",
                                            llm_temperature=0.2, llm_max_tokens=300,
                                            widget_config={"theme": "dark"})
    created = result["settings"]
    assert created["llm_provider_label"] == "OpenAI" and created["llm_model_name"] == "gpt-4o-mini"
    assert created["embedding_model_name"] == "all-MiniLM-L6-v2" and created["embedding_dimension"] == 384
    assert created["is_default"] is True  # the company's first settings without an agent
    assert "llm_api_key" not in created and created["llm_api_key_set"] is True
    assert "sk-live-abcdef123456" not in str(result)

    fetched = sdk_a.settings.get_settings(created["id"])
    assert fetched["id"] == created["id"] and fetched["llm_temperature"] == 0.2
    assert fetched["widget_config"] == {"theme": "dark"} and fetched["llm_max_tokens"] == 300
    assert "sk-live" not in str(fetched)

    updated = sdk_a.settings.update_settings(created["id"], llm_temperature=0.9,
                                             llm_model_id=ids[("openai", "gpt-4o")][1])
    assert updated["settings"]["llm_temperature"] == 0.9 and updated["settings"]["llm_model_name"] == "gpt-4o"
    assert updated["settings"]["llm_api_key_set"] is True  # same vendor: the key stays

    listed = sdk_a.settings.list_company_settings(str(companies[0].company_id))
    assert [s["id"] for s in listed["settings"]] == [created["id"]]


def test_create_settings_by_names_for_an_agent(app, sdk_a, companies):
    agent_id = make_agent(app, companies[0])
    result = sdk_a.settings.create_settings_with_provider_names(
        "Google Gemini", "GEMINI-2.5-FLASH", "ollama", "nomic-embed-text", llm_api_key="g-key-000000001",
        agent_id=agent_id)
    row = result["settings"]
    assert (row["llm_provider"], row["llm_model_name"]) == ("gemini", "gemini-2.5-flash")
    assert (row["embedding_provider"], row["embedding_dimension"]) == ("ollama", 768)
    assert row["agent_id"] == agent_id and row["is_default"] is False
    assert agent_row(app, agent_id).llm_settings_id == uuid.UUID(row["id"])
    by_agent = sdk_a.settings.list_agent_settings(agent_id)
    assert by_agent["id"] == row["id"] and by_agent["agent"]["name"] == "Support"


def test_delete_settings_refuses_default_and_in_use(app, sdk_a, companies):
    default = sdk_a.settings.create_settings_with_provider_names(**LOCAL)["settings"]
    used = sdk_a.settings.create_settings_with_provider_names(**LOCAL, is_default=False)["settings"]
    free = sdk_a.settings.create_settings_with_provider_names(**LOCAL, is_default=False)["settings"]
    make_agent(app, companies[0], settings_id=used["id"])
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.settings.delete_settings(default["id"])
    assert err.value.status_code == 409
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.settings.delete_settings(used["id"])
    assert err.value.status_code == 409 and "Support" in err.value.message
    assert sdk_a.settings.delete_settings(free["id"])["settings_id"] == free["id"]
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.settings.get_settings(free["id"])
    assert err.value.status_code == 404


def add_chunk(app, tenant, agent_id, key="local:all-MiniLM-L6-v2"):
    from knowrithm.domains.documents.models import Document, DocumentChunk
    from knowrithm.infra.db import db

    with app.app_context():
        doc = Document(company_id=tenant.company_id, agent_id=uuid.UUID(agent_id), original_filename="faq.txt",
                       filename="faq.txt", document_type="txt", status="processed")
        db.session.add(doc)
        db.session.flush()
        db.session.add(DocumentChunk(company_id=tenant.company_id, document_id=doc.id, agent_id=doc.agent_id,
                                     chunk_index=0, content="Refunds take five days.", embedding=[0.1] * 384,
                                     embedding_model=key, embedding_dim=384))
        db.session.commit()
        db.session.remove()


def wait_for_reembed(app, agent_id, timeout=60.0):
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        agent = agent_row(app, agent_id)
        if agent.reembed_status in ("completed", "failed"):
            return agent
        time.sleep(0.2)
    raise AssertionError(f"re-embed did not finish: {agent.reembed_status}")


def test_changing_the_embedding_model_reembeds_the_agents_knowledge(app, sdk_a, companies):
    from knowrithm.domains.documents.models import DocumentChunk
    from knowrithm.infra.db import db

    row = sdk_a.settings.create_settings_with_provider_names(**LOCAL)["settings"]
    agent_id = make_agent(app, companies[0], settings_id=row["id"])
    idle_id = make_agent(app, companies[0], name="Idle", settings_id=row["id"])  # nothing indexed
    add_chunk(app, companies[0], agent_id)
    with OpenAIServer(api_key="sk-emb-key-0001") as server:
        ids = catalog(sdk_a)
        provider_id, model_id = ids[("openai", "text-embedding-3-small")]
        result = sdk_a.settings.update_settings(row["id"], embedding_provider_id=provider_id,
                                                embedding_model_id=model_id, embedding_api_key="sk-emb-key-0001",
                                                embedding_api_base_url=server.base_url)
        assert result["reembed_agent_ids"] == [agent_id]
        assert result["settings"]["embedding_dimension"] == 1536
        assert result["settings"]["embedding_api_key_set"] is True
        agent = wait_for_reembed(app, agent_id)
    assert agent.reembed_status == "completed"
    assert agent.active_embedding_model == result["settings"]["embedding_model_key"]
    assert agent_row(app, idle_id).active_embedding_model == result["settings"]["embedding_model_key"]
    with app.app_context():
        chunk = db.session.query(DocumentChunk).filter_by(agent_id=uuid.UUID(agent_id)).one()
        assert chunk.embedding_model == result["settings"]["embedding_model_key"]
        db.session.remove()
    assert server.calls("/embeddings")


def test_settings_test_calls_the_model_and_reports_auth_failures(sdk_a):
    with OpenAIServer(api_key="sk-good-key-0001", reply="pong") as server:
        good = sdk_a.settings.create_settings_with_provider_names(
            "openai", "gpt-4o-mini", "knowrithm", "all-MiniLM-L6-v2", llm_api_key="sk-good-key-0001",
            llm_api_base_url=server.base_url)["settings"]
        report = sdk_a.settings.test_settings(good["id"])
        assert report["status"] == "success" and report["response"] == "pong"
        assert report["latency_ms"] >= 0 and report["embedding"]["dimension"] == 384
        assert server.calls("/chat/completions")[0]["headers"]["Authorization"] == "Bearer sk-good-key-0001"

        bad = sdk_a.settings.create_settings_with_provider_names(
            "openai", "gpt-4o-mini", "knowrithm", "all-MiniLM-L6-v2", llm_api_key="sk-wrong-key-9999",
            llm_api_base_url=server.base_url)["settings"]
        failed = sdk_a.settings.test_settings(bad["id"])
        assert failed["status"] == "failed" and failed["auth_status"] == "failed"
        assert failed["llm"]["error_code"] == "LLM_AUTH_FAILED" and failed["llm"]["error"]

        overridden = sdk_a.settings.test_settings(bad["id"], {"llm_api_key": "sk-good-key-0001"})
        assert overridden["status"] == "success"
    assert sdk_a.settings.get_settings(good["id"])["last_tested_at"]


@pytest.mark.parametrize("payload, field, needle", [
    ({**LOCAL, "llm_provider": "openaiz"}, "llm_provider", "openai"),
    ({**LOCAL, "llm_provider": "openai", "llm_model": "gpt-99", "llm_api_key": "k"}, "llm_model", "gpt-4o-mini"),
    ({**LOCAL, "embedding_model": "extractive"}, "embedding_model", "all-MiniLM-L6-v2"),
    ({**LOCAL, "llm_model": "all-MiniLM-L6-v2"}, "llm_model", "extractive"),
    ({**LOCAL, "llm_provider": "anthropic", "llm_model": "claude-haiku-4-5"}, "llm_api_key", "API key"),
    ({**LOCAL, "embedding_provider": "anthropic"}, "embedding_provider", "knowrithm"),
])
def test_create_settings_bad_input(sdk_a, payload, field, needle):
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.settings.create_settings_with_provider_names(**payload)
    assert err.value.status_code == 400
    assert field in err.value.response_data["details"]
    assert needle in err.value.message


def test_create_settings_bad_ids_and_values(sdk_a, http):
    ids = catalog(sdk_a)
    p, m = ids[("knowrithm", "extractive")]
    ep, em = ids[("knowrithm", "all-MiniLM-L6-v2")]
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.settings.create_settings(p, str(uuid.uuid4()), ep, em)
    assert err.value.status_code == 400
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.settings.create_settings(p, m, ep, em, llm_temperature=7)
    assert err.value.status_code == 400 and "llm_temperature" in err.value.response_data["details"]
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.settings.create_settings(p, em, ep, em)  # the embedding model as the chat model
    assert err.value.status_code == 400 and err.value.error_code == "WRONG_MODEL_TYPE"
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.settings.create_settings(p, m, ep, em, agent_id=str(uuid.uuid4()))
    assert err.value.status_code == 404


def test_other_company_cannot_touch_settings(app, sdk_a, sdk_b, companies):
    row = sdk_a.settings.create_settings_with_provider_names(**LOCAL, llm_temperature=0.3)["settings"]
    agent_a = make_agent(app, companies[0], settings_id=row["id"])
    calls = [
        lambda: sdk_b.settings.get_settings(row["id"]),
        lambda: sdk_b.settings.update_settings(row["id"], llm_temperature=1.5),
        lambda: sdk_b.settings.delete_settings(row["id"]),
        lambda: sdk_b.settings.test_settings(row["id"]),
        lambda: sdk_b.settings.list_company_settings(str(companies[0].company_id)),
        lambda: sdk_b.settings.list_agent_settings(agent_a),
        lambda: sdk_b.settings.create_settings_with_provider_names(**LOCAL, agent_id=agent_a),
    ]
    for call in calls:
        with pytest.raises(KnowrithmAPIError) as err:
            call()
        assert err.value.status_code == 404
    assert sdk_a.settings.get_settings(row["id"])["llm_temperature"] == 0.3
    assert sdk_b.settings.list_company_settings(str(companies[1].company_id))["settings"] == []


def test_super_admin_reads_any_company_settings(http, sdk_a, companies, super_admin_token):
    row = sdk_a.settings.create_settings_with_provider_names(**LOCAL)["settings"]
    resp = http.get(f"/api/v1/settings/company/{companies[0].company_id}",
                    headers={"Authorization": f"Bearer {super_admin_token}"})
    assert resp.status_code == 200 and [s["id"] for s in resp.json()["settings"]] == [row["id"]]


def test_fallbacks_and_metadata_over_plain_http(app, http, companies, sdk_a):
    from tests.conftest import make_api_key

    key, secret = make_api_key(app, companies[0], ("read", "write"))
    headers = {"X-API-Key": key, "X-API-Secret": secret}
    body = {**LOCAL, "metadata": {"team": "support"},
            "fallback_models": [{"provider": "anthropic", "model": "claude-haiku-4-5", "api_key": "sk-ant-000000001"},
                                {"provider": "ollama", "model": "llama3.1"}]}
    resp = http.post("/api/v1/sdk/settings", json=body, headers=headers)
    assert resp.status_code == 202 and resp.json()["status"] == "accepted"
    from tests.conftest import poll_task

    done = poll_task(http, resp.json()["status_url"])
    settings = done["result"]["settings"]
    assert settings["metadata"] == {"team": "support"}
    assert [(f["provider"], f["model"], f["api_key_set"]) for f in settings["fallback_models"]] == [
        ("anthropic", "claude-haiku-4-5", True), ("ollama", "llama3.1", False)]
    assert "sk-ant" not in str(done)

    missing_key = {**LOCAL, "fallback_models": [{"provider": "openai", "model": "gpt-4o"}]}
    resp = http.post("/api/v1/sdk/settings", json=missing_key, headers=headers)
    assert resp.status_code == 400 and "fallback_api_key" in resp.json()["details"]
    wrong_type = {**LOCAL, "fallback_models": ["text-embedding-3-small"]}
    resp = http.post("/api/v1/sdk/settings", json={**wrong_type, "fallback_models": [
        {"provider": "openai", "model": "text-embedding-3-small", "api_key": "k"}]}, headers=headers)
    assert resp.status_code == 400 and resp.json()["error_code"] == "WRONG_MODEL_TYPE"


def test_gemini_uses_the_platform_key_when_configured(app, sdk_a, monkeypatch):
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.settings.create_settings_with_provider_names("gemini", "gemini-2.5-flash", "gemini", "text-embedding-004")
    assert err.value.status_code == 400 and err.value.error_code == "MISSING_API_KEY"
    monkeypatch.setattr(app.config["SETTINGS"], "GEMINI_API_KEY", "platform-gemini-key")
    row = sdk_a.settings.create_settings_with_provider_names("gemini", "gemini-2.5-flash", "gemini",
                                                             "text-embedding-004")["settings"]
    assert row["llm_api_key_set"] is False and row["embedding_dimension"] == 768
    from knowrithm.domains.llm import service
    from knowrithm.domains.llm.models import LLMSettings
    from knowrithm.infra.db import db

    with app.app_context():
        chat, embedder = service.runtime_for_settings(db.session.get(LLMSettings, uuid.UUID(row["id"])))
        assert chat[0][1].config.api_key == "platform-gemini-key"
        assert embedder.config.api_key == "platform-gemini-key"
        db.session.remove()


def test_agent_without_settings_is_404(app, sdk_a, companies):
    agent_id = make_agent(app, companies[0])
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.settings.list_agent_settings(agent_id)
    assert err.value.status_code == 404
