"""Agents: listing, lookup by name, the public route, embed code and stats."""
from __future__ import annotations

import uuid

import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError

from tests.agents.conftest import add_conversation, add_document, unlink_settings


def test_list_filters_paginates_and_aliases_data(sdk_a, make_agent):
    make_agent(sdk_a, name="Billing helper", description="Refunds and invoices")
    make_agent(sdk_a, name="Sales bot", status="inactive")
    make_agent(sdk_a, name="Onboarding", description="Helps new BILLING customers")

    everything = sdk_a.agents.list_agents()
    assert everything["pagination"]["total"] == 3 and everything["data"] == everything["agents"]
    assert {a["name"] for a in everything["agents"]} == {"Billing helper", "Sales bot", "Onboarding"}

    found = sdk_a.agents.list_agents(search="billing")  # name or description, any case
    assert {a["name"] for a in found["agents"]} == {"Billing helper", "Onboarding"}
    assert [a["name"] for a in sdk_a.agents.list_agents(status="inactive")["agents"]] == ["Sales bot"]

    page1 = sdk_a.agents.list_agents(page=1, per_page=2)
    page2 = sdk_a.agents.list_agents(page=2, per_page=2)
    assert page1["pagination"] == {"page": 1, "per_page": 2, "total": 3, "pages": 2, "has_next": True,
                                   "has_prev": False}
    assert len(page1["agents"]) == 2 and len(page2["agents"]) == 1
    assert not {a["id"] for a in page1["agents"]} & {a["id"] for a in page2["agents"]}
    assert sdk_a.agents.list_agents(per_page=500)["pagination"]["per_page"] == 100
    # A page far past the end (its offset overflows a bigint) is an empty page, not a 400.
    far = sdk_a.agents.list_agents(page=60177100162092531712, per_page=100)
    assert far["agents"] == [] and far["pagination"]["total"] == 3


def test_list_is_company_scoped(sdk_a, sdk_b, make_agent):
    make_agent(sdk_a, name="A only")
    assert sdk_b.agents.list_agents()["agents"] == []
    # A non-super-admin naming another company still sees only its own.
    assert sdk_b.agents.list_agents(company_id=str(uuid.uuid4()))["agents"] == []


def test_super_admin_lists_a_named_company(http, super_admin_token, sdk_a, sdk_b, make_agent, companies):
    make_agent(sdk_a, name="A agent")
    make_agent(sdk_b, name="B agent")
    auth = {"Authorization": f"Bearer {super_admin_token}"}
    body = http.get("/api/v1/agent", params={"company_id": str(companies[1].company_id)}, headers=auth).json()
    assert [a["name"] for a in body["agents"]] == ["B agent"]
    everyone = http.get("/api/v1/agent", headers=auth).json()
    assert {a["name"] for a in everyone["agents"]} == {"A agent", "B agent"}


def test_list_bad_input_is_a_400(http, key_headers):
    for params in ({"status": "sleeping"}, {"page": 0}, {"per_page": "many"}):
        resp = http.get("/api/v1/agent", params=params, headers=key_headers)
        assert resp.status_code == 400 and resp.json()["success"] is False


def test_get_by_name(sdk_a, sdk_b, make_agent):
    created = make_agent(sdk_a, name="Sales/EU Bot")["agent"]
    found = sdk_a.agents.get_agent_by_name("sales/eu bot")  # the SDK percent-encodes the slash
    assert found["agent"]["id"] == created["id"] and found["agent"]["model_name"] == "extractive"
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.agents.get_agent_by_name("nobody")
    assert err.value.status_code == 404
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_b.agents.get_agent_by_name("Sales/EU Bot")
    assert err.value.status_code == 404


def test_public_get_ignores_credentials_and_shows_safe_fields(sdk_factory, sdk_a, make_agent, http):
    created = make_agent(sdk_a, name="Widget bot", description="Hi there", system_prompt="SECRET PROMPT",
                         avatar_url="https://cdn.example/a.png")["agent"]
    anonymous = sdk_factory()  # bogus API key and secret, as the SDK always sends some
    body = anonymous.agents.get_agent(created["id"])
    agent = body["agent"]
    assert agent["id"] == created["id"] and agent["name"] == "Widget bot" and body["name"] == "Widget bot"
    assert agent["company_id"] == created["company_id"] and agent["description"] == "Hi there"
    assert agent["avatar_url"] == "https://cdn.example/a.png" and agent["status"] == "active"
    for private in ("system_prompt", "llm_settings_id", "model_name", "total_messages", "embed_code"):
        assert private not in agent
    assert "SECRET PROMPT" not in str(body)
    resp = http.get(f"/api/v1/agent/{created['id']}", headers={"Authorization": "Bearer junk"})
    assert resp.status_code == 200
    for missing in (str(uuid.uuid4()), "not-a-uuid"):
        assert http.get(f"/api/v1/agent/{missing}").status_code == 404


def test_get_gives_the_owning_company_the_full_agent(app, sdk_a, sdk_b, sdk_factory, make_agent, http,
                                                    super_admin_token):
    created = make_agent(sdk_a, name="Owned bot", system_prompt="OWNER PROMPT")["agent"]
    add_conversation(app, created, messages=3, rating=4.0)
    full = sdk_a.agents.get_agent(created["id"])
    agent = full["agent"]
    assert full["id"] == created["id"] and full["name"] == "Owned bot"
    assert agent["model_name"] == "extractive" and agent["system_prompt"] == "OWNER PROMPT"
    assert agent["total_conversations"] == 1 and agent["total_messages"] == 3 and agent["average_rating"] == 4.0
    assert agent["llm_settings_id"] == created["llm_settings_id"]
    admin = http.get(f"/api/v1/agent/{created['id']}", headers={"Authorization": f"Bearer {super_admin_token}"})
    assert admin.json()["agent"]["total_messages"] == 3

    # Another company, a lead of the owner, and an anonymous caller get the widget's safe fields only.
    lead = sdk_factory().leads.register_lead({"agent_id": created["id"], "first_name": "Vi", "last_name": "S",
                                               "email": "vi@example.com"})
    lead_view = http.get(f"/api/v1/agent/{created['id']}",
                         headers={"Authorization": f"Bearer {lead['access_token']}"}).json()["agent"]
    for view in (sdk_b.agents.get_agent(created["id"])["agent"], sdk_factory().agents.get_agent(created["id"])["agent"],
                 lead_view):
        assert view["name"] == "Owned bot" and view["company_id"] == created["company_id"]
        for private in ("system_prompt", "model_name", "total_conversations", "total_messages", "average_rating"):
            assert private not in view


def test_public_get_hides_deleted_agents(sdk_a, sdk_factory, make_agent):
    created = make_agent(sdk_a)["agent"]
    sdk_a.agents.delete_agent(created["id"])
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_factory().agents.get_agent(created["id"])
    assert err.value.status_code == 404


def test_embed_code(sdk_a, sdk_b, make_agent, settings):
    created = make_agent(sdk_a, name="Embed me")["agent"]
    code = sdk_a.agents.get_embed_code(created["id"])
    assert {"embed_code", "simple", "advanced", "config", "preview_url", "agent_id", "agent_name"} <= set(code)
    base = settings.BASE_URL.rstrip("/")
    assert code["embed_code"] == code["simple"] and code["agent_id"] == created["id"]
    assert "window.AIChatWidget" in code["simple"] and f'"agentId": "{created["id"]}"' in code["simple"]
    assert f'"apiUrl": "{base}/api/v1"' in code["simple"]
    assert f'src="{base}/api/widget.js"' in code["simple"]
    assert code["config"]["agentId"] == created["id"] and code["config"]["title"] == "Embed me"
    assert "primaryColor" in code["advanced"]
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_b.agents.get_embed_code(created["id"])
    assert err.value.status_code == 404


def test_embed_code_needs_settings(app, sdk_a, make_agent):
    created = make_agent(sdk_a)["agent"]
    unlink_settings(app, created["id"])
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.agents.get_embed_code(created["id"])
    assert err.value.status_code == 400 and err.value.error_code == "AGENT_NOT_CONFIGURED"


def test_stats_and_counts_come_from_the_tables(app, sdk_a, sdk_b, make_agent):
    created = make_agent(sdk_a, name="Counted")["agent"]
    add_conversation(app, created, messages=3, rating=4.0)
    add_conversation(app, created, status="archived", messages=2, rating=2.0)
    add_document(app, created, ["Refunds take five days."], embed=False)
    stats = sdk_a.agents.get_agent_stats(created["id"])
    assert stats["agent_id"] == created["id"] and stats["agent_name"] == "Counted"
    assert stats["total_conversations"] == 2 and stats["total_messages"] == 5
    assert stats["average_rating"] == 3.0 and stats["documents_count"] == 1 and stats["databases_count"] == 0
    assert stats["llm_provider"] == "Knowrithm Local" and stats["llm_model"] == "extractive"
    assert {"status", "last_trained", "created_at"} <= set(stats)
    listed = sdk_a.agents.list_agents()["agents"][0]
    assert listed["total_conversations"] == 2 and listed["total_messages"] == 5 and listed["documents"] == 1
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_b.agents.get_agent_stats(created["id"])
    assert err.value.status_code == 404


def test_the_listing_served_from_memory_follows_every_write(app, sdk_a, sdk_b, make_agent):
    """`GET /agent` pages are kept in process memory (infra/read_cache.py): each change, by the
    API, by a write straight to the tables, or by a deleted agent, shows on the very next read,
    and another company's changes never reach this company's page."""
    created = make_agent(sdk_a, name="Cached")["agent"]
    first = sdk_a.agents.list_agents()
    assert sdk_a.agents.list_agents() == first  # a second read, the same answer
    sdk_a.agents.update_agent(created["id"], {"name": "Renamed"})
    assert sdk_a.agents.list_agents()["agents"][0]["name"] == "Renamed"
    add_conversation(app, created, messages=4, rating=5.0)  # written by another session, no API call
    listed = sdk_a.agents.list_agents()["agents"][0]
    assert listed["total_conversations"] == 1 and listed["total_messages"] == 4
    make_agent(sdk_b, name="Other company")
    assert [a["name"] for a in sdk_a.agents.list_agents()["agents"]] == ["Renamed"]
    spare = make_agent(sdk_a, name="Spare")["agent"]
    assert {a["name"] for a in sdk_a.agents.list_agents()["agents"]} == {"Renamed", "Spare"}
    sdk_a.agents.delete_agent(spare["id"])
    assert [a["name"] for a in sdk_a.agents.list_agents()["agents"]] == ["Renamed"]
