"""Agent updates (async and /sdk sync, settings replacement), delete and restore."""
from __future__ import annotations

import uuid

import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError

from tests.agents.conftest import add_conversation, agent_row
from tests.conftest import poll_task


def test_sdk_update_is_synchronous(sdk_a, make_agent, companies):
    created = make_agent(sdk_a, name="Old name")["agent"]
    body = sdk_a.agents.update_agent(created["id"], {
        "name": "New name", "description": "Updated", "status": "maintenance", "languages": ["de"],
        "capabilities": ["orders"], "operating_hours": {"mon": "9-17"}, "personality_traits": ["calm"],
    })
    assert set(body) >= {"agent", "initiated_by", "message"}
    assert body["initiated_by"] == str(companies[0].admin_id)
    agent = body["agent"]
    assert agent["name"] == "New name" and agent["status"] == "maintenance" and agent["languages"] == ["de"]
    assert agent["operating_hours"] == {"mon": "9-17"} and agent["personality_traits"] == ["calm"]
    assert agent["llm_settings_id"] == created["llm_settings_id"]  # untouched without a settings object
    assert sdk_a.agents.get_agent(created["id"])["agent"]["name"] == "New name"


def test_sdk_update_with_settings_names_updates_the_agents_settings(sdk_a, make_agent):
    created = make_agent(sdk_a)["agent"]
    body = sdk_a.agents.update_agent(created["id"], {"settings": {
        "llm_provider": "knowrithm", "llm_model": "extractive", "llm_temperature": 0.9, "llm_max_tokens": 123}})
    assert body["agent"]["temperature"] == 0.9 and body["agent"]["max_tokens"] == 123
    # The agent's own settings are updated in place.
    assert body["agent"]["llm_settings_id"] == created["llm_settings_id"]


def test_settings_object_on_an_agent_using_the_company_default_gives_it_its_own(http, key_headers, sdk_a, catalog,
                                                                                 celery_worker):
    ack = http.post("/api/v1/agent", json={"name": "Defaulted"}, headers=key_headers).json()
    result = poll_task(http, ack["status_url"])["result"]
    default_id = result["settings"]["id"]
    body = sdk_a.agents.update_agent(result["agent"]["id"], {"settings": {"llm_temperature": 0.3}})
    assert body["agent"]["llm_settings_id"] != default_id and body["agent"]["temperature"] == 0.3
    # The company default itself is unchanged.
    other = http.post("/api/v1/agent", json={"name": "Second"}, headers=key_headers).json()
    second = poll_task(http, other["status_url"])["result"]
    assert second["settings"]["id"] == default_id and second["settings"]["llm_temperature"] == 0.5


def test_update_bad_input_is_a_400_and_changes_nothing(app, sdk_a, make_agent):
    created = make_agent(sdk_a, name="Stable")["agent"]
    bad = [{"status": "sleeping"}, {"name": ""}, {"languages": "en"},
           {"settings": {"llm_provider": "no-such-vendor", "llm_model": "x"}},
           {"llm_settings_id": str(uuid.uuid4())}]
    for payload in bad:
        with pytest.raises(KnowrithmAPIError) as err:
            sdk_a.agents.update_agent(created["id"], payload)
        assert err.value.status_code == 400, payload
    row = agent_row(app, created["id"])
    assert row.name == "Stable" and row.status == "active" and str(row.llm_settings_id) == created["llm_settings_id"]


def test_async_put_is_polled(http, key_headers, sdk_a, make_agent, celery_worker):
    created = make_agent(sdk_a)["agent"]
    resp = http.put(f"/api/v1/agent/{created['id']}", json={"description": "via the CLI"}, headers=key_headers)
    assert resp.status_code == 202
    result = poll_task(http, resp.json()["status_url"])["result"]
    assert result["agent"]["description"] == "via the CLI" and result["message"]


def test_update_by_another_company_is_a_404(app, sdk_a, sdk_b, make_agent, http, companies):
    created = make_agent(sdk_a, name="Protected")["agent"]
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_b.agents.update_agent(created["id"], {"name": "Stolen"})
    assert err.value.status_code == 404
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_b._make_request("PUT", f"/agent/{created['id']}", data={"name": "Stolen"})
    assert err.value.status_code == 404
    assert agent_row(app, created["id"]).name == "Protected"


def test_delete_and_restore(app, sdk_a, make_agent):
    created = make_agent(sdk_a)["agent"]
    body = sdk_a.agents.delete_agent(created["id"])
    assert body["agent_id"] == created["id"] and "initiated_by" in body and body["message"]
    assert agent_row(app, created["id"]).deleted_at is not None
    assert sdk_a.agents.list_agents()["agents"] == []
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.agents.get_agent_stats(created["id"])
    assert err.value.status_code == 404

    restored = sdk_a.agents.restore_agent(created["id"])  # async: the SDK polls the task
    assert restored["agent"]["id"] == created["id"] and restored["agent"]["deleted_at"] is None
    assert agent_row(app, created["id"]).deleted_at is None
    assert [a["id"] for a in sdk_a.agents.list_agents()["agents"]] == [created["id"]]


def test_async_delete_is_polled(app, http, key_headers, sdk_a, make_agent):
    created = make_agent(sdk_a)["agent"]
    resp = http.delete(f"/api/v1/agent/{created['id']}", headers=key_headers)
    assert resp.status_code == 202
    result = poll_task(http, resp.json()["status_url"])["result"]
    assert result["agent_id"] == created["id"]
    assert agent_row(app, created["id"]).deleted_at is not None


def test_delete_refused_while_conversations_are_active(app, http, key_headers, sdk_a, make_agent):
    created = make_agent(sdk_a)["agent"]
    add_conversation(app, created, status="active")
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.agents.delete_agent(created["id"])
    assert err.value.status_code == 400 and err.value.error_code == "AGENT_HAS_ACTIVE_CONVERSATIONS"
    resp = http.delete(f"/api/v1/agent/{created['id']}", headers=key_headers)
    assert resp.status_code == 400
    assert agent_row(app, created["id"]).deleted_at is None


def test_archived_conversations_do_not_block_delete(app, sdk_a, make_agent):
    created = make_agent(sdk_a)["agent"]
    add_conversation(app, created, status="archived")
    sdk_a.agents.delete_agent(created["id"])
    assert agent_row(app, created["id"]).deleted_at is not None


def test_delete_and_restore_by_another_company_are_404(app, sdk_a, sdk_b, make_agent):
    created = make_agent(sdk_a)["agent"]
    for call in (lambda: sdk_b.agents.delete_agent(created["id"]),
                 lambda: sdk_b._make_request("DELETE", f"/agent/{created['id']}")):
        with pytest.raises(KnowrithmAPIError) as err:
            call()
        assert err.value.status_code == 404
    assert agent_row(app, created["id"]).deleted_at is None
    sdk_a.agents.delete_agent(created["id"])
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_b.agents.restore_agent(created["id"])
    assert err.value.status_code == 404
    assert agent_row(app, created["id"]).deleted_at is not None


def test_unknown_ids_are_404(sdk_a, catalog):
    for call in (lambda a: sdk_a.agents.update_agent(a, {"name": "x"}), sdk_a.agents.delete_agent,
                 sdk_a.agents.restore_agent, sdk_a.agents.get_agent_stats, sdk_a.agents.get_embed_code,
                 sdk_a.agents.clone_agent, sdk_a.agents.test_agent):
        for agent_id in (str(uuid.uuid4()), "not-a-uuid"):
            with pytest.raises(KnowrithmAPIError) as err:
                call(agent_id)
            assert err.value.status_code == 404


def settings_deleted_at(app, settings_id):
    from sqlalchemy import select

    from knowrithm.domains.llm.models import LLMSettings
    from knowrithm.infra.db import db
    from tests.agents.conftest import db_call

    return db_call(app, lambda: db.session.execute(
        select(LLMSettings.deleted_at).where(LLMSettings.id == uuid.UUID(settings_id))
        .execution_options(include_deleted=True)).scalar_one())


def test_switching_settings_retires_only_orphaned_ones(app, sdk_a, make_agent):
    first = make_agent(sdk_a, name="First")["agent"]
    second = make_agent(sdk_a, name="Second")["agent"]
    # Second switches to First's settings: Second's own settings are no longer used by anyone.
    body = sdk_a.agents.update_agent(second["id"], {"llm_settings_id": first["llm_settings_id"]})
    assert body["agent"]["llm_settings_id"] == first["llm_settings_id"]
    assert settings_deleted_at(app, second["llm_settings_id"]) is not None
    # First switches away, but Second still uses First's settings: they stay.
    third = make_agent(sdk_a, name="Third")["agent"]
    sdk_a.agents.update_agent(first["id"], {"llm_settings_id": third["llm_settings_id"]})
    assert settings_deleted_at(app, first["llm_settings_id"]) is None
