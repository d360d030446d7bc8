"""Leads through knowrithm-py, plus the CLI's queued routes."""
import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError

from tests.conftest import poll_task
from tests.widget.helpers import make_agent


def _register(sdk_factory, agent_id, email="visitor@example.com", **extra):
    return sdk_factory().leads.register_lead({"agent_id": str(agent_id), "first_name": "Vera", "last_name": "Visitor",
                                              "email": email, "phone": "", **extra})


def test_register_is_public_idempotent_and_issues_lead_tokens(app, companies, sdk_factory, sdk_a):
    agent_id = make_agent(app, companies[0])
    first = _register(sdk_factory, agent_id, email="Visitor@Example.com")
    assert first["success"] is True and first["access_token"] and first["refresh_token"]
    assert first["lead"]["email"] == "visitor@example.com"
    assert first["lead"]["full_name"] == "Vera Visitor" and first["lead"]["status"] == "new"
    assert first["lead"]["consent_data_processing"] is True and first["lead"]["consent_marketing"] is False
    assert first["lead"]["phone"] is None
    assert "task_id" not in first and "status_url" not in first

    again = _register(sdk_factory, agent_id, email="visitor@example.com", phone="+1 555", consent_marketing=True)
    assert again["lead"]["id"] == first["lead"]["id"]
    assert again["access_token"] != first["access_token"]
    # An anonymous registration fills empty fields only; consents stay as the visitor gave them.
    assert again["lead"]["phone"] == "+1 555" and again["lead"]["consent_marketing"] is False
    listed = sdk_a.leads.list_company_leads()
    assert [lead["id"] for lead in listed["leads"]] == [first["lead"]["id"]]

    # The token is a lead token: it reaches lead routes but not the admin ones.
    lead_headers = {"Authorization": f"Bearer {first['access_token']}"}
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_factory().leads.list_company_leads(headers=lead_headers)
    assert err.value.status_code == 403


def test_register_bad_input(app, companies, sdk_factory, http):
    agent_id = make_agent(app, companies[0])
    resp = http.post("/api/v1/lead/register", json={"agent_id": str(agent_id), "first_name": "A", "last_name": "B",
                                                    "email": "not-an-email"})
    assert resp.status_code == 400
    body = resp.json()
    assert body["success"] is False and "email" in body["details"]
    resp = http.post("/api/v1/lead/register", json={"first_name": "A", "last_name": "B", "email": "a@b.io"})
    assert resp.status_code == 400 and "agent_id" in resp.json()["details"]
    resp = http.post("/api/v1/lead/register", json={"agent_id": "00000000-0000-0000-0000-000000000000",
                                                    "first_name": "A", "last_name": "B", "email": "a@b.io"})
    assert resp.status_code == 404
    # Bad credentials never break a public route.
    resp = http.post("/api/v1/lead/register", headers={"X-API-Key": "ak_bad", "X-API-Secret": "as_bad"},
                     json={"agent_id": str(agent_id), "first_name": "A", "last_name": "B", "email": "a@b.io"})
    assert resp.status_code == 200


def test_sdk_crud_filters_and_status_pipeline(app, companies, sdk_a):
    created = sdk_a.leads.create_lead({"first_name": "Lia", "last_name": "Buyer", "email": "lia@shop.io",
                                       "phone": "123", "source": "fair", "tags": ["vip"], "consent_marketing": True})
    lead = created["lead"]
    assert created["success"] is True and lead["email"] == "lia@shop.io" and lead["tags"] == ["vip"]
    sdk_a.leads.create_lead({"first_name": "Max", "last_name": "Other", "email": "max@shop.io"})

    assert sdk_a.leads.get_lead(lead["id"])["lead"]["full_name"] == "Lia Buyer"
    found = sdk_a.leads.list_company_leads(search="lia")
    assert [x["id"] for x in found["leads"]] == [lead["id"]]
    assert found["data"]["pagination"]["total"] == 1
    paged = sdk_a.leads.list_company_leads(per_page=1, page=2)
    assert len(paged["leads"]) == 1 and paged["pagination"]["total"] == 2

    updated = sdk_a.leads.update_lead(lead["id"], {"status": "contacted", "notes": "called"})
    assert updated["lead"]["status"] == "contacted" and updated["lead"]["notes"] == "called"
    assert [x["id"] for x in sdk_a.leads.list_company_leads(status="contacted")["leads"]] == [lead["id"]]
    sdk_a.leads.update_lead(lead["id"], {"status": "converted"})
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.leads.update_lead(lead["id"], {"status": "new"})
    assert err.value.status_code == 400 and "status" in err.value.response_data["details"]
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.leads.update_lead(lead["id"], {"status": "bogus"})
    assert err.value.status_code == 400

    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.leads.create_lead({"first_name": "Lia", "last_name": "Twice", "email": "LIA@shop.io"})
    assert err.value.status_code == 409

    deleted = sdk_a.leads.delete_lead(lead["id"])
    assert deleted["lead_id"] == lead["id"] and deleted["success"] is True
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.leads.get_lead(lead["id"])
    assert err.value.status_code == 404


def test_create_bad_input(sdk_a):
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.leads.create_lead({"first_name": "", "last_name": "X", "email": "x@y.io"})
    assert err.value.status_code == 400 and "first_name" in err.value.response_data["details"]


def test_cross_company_leads_are_invisible(app, companies, sdk_a, sdk_b):
    lead = sdk_a.leads.create_lead({"first_name": "Lia", "last_name": "Buyer", "email": "lia@shop.io"})["lead"]
    assert sdk_b.leads.list_company_leads()["leads"] == []
    for call in (lambda: sdk_b.leads.get_lead(lead["id"]),
                 lambda: sdk_b.leads.update_lead(lead["id"], {"status": "lost"}),
                 lambda: sdk_b.leads.delete_lead(lead["id"])):
        with pytest.raises(KnowrithmAPIError) as err:
            call()
        assert err.value.status_code == 404
    # The same email may exist in another company.
    sdk_b.leads.create_lead({"first_name": "Lia", "last_name": "Elsewhere", "email": "lia@shop.io"})
    assert sdk_a.leads.get_lead(lead["id"])["lead"]["status"] == "new"


def test_queued_cli_routes(app, companies, http, sdk_for, celery_worker):
    from tests.conftest import make_api_key

    key, secret = make_api_key(app, companies[0])
    auth = {"X-API-Key": key, "X-API-Secret": secret}
    ack = http.post("/api/v1/lead", headers=auth, json={"first_name": "Q", "last_name": "Ueue", "email": "q@q.io"})
    assert ack.status_code == 202 and ack.json()["status"] == "accepted"
    done = poll_task(http, ack.json()["status_url"])
    assert done["status"] == "completed"
    lead_id = done["lead"]["id"]

    ack = http.put(f"/api/v1/lead/{lead_id}", headers=auth, json={"status": "qualified"})
    assert poll_task(http, ack.json()["status_url"])["lead"]["status"] == "qualified"
    bad = http.put(f"/api/v1/lead/{lead_id}", headers=auth, json={"status": "new"})
    assert bad.status_code == 400  # the pipeline is checked before queueing

    other_key, other_secret = make_api_key(app, companies[1])
    foreign = http.delete(f"/api/v1/lead/{lead_id}", headers={"X-API-Key": other_key, "X-API-Secret": other_secret})
    assert foreign.status_code == 404
    ack = http.delete(f"/api/v1/lead/{lead_id}", headers=auth)
    assert poll_task(http, ack.json()["status_url"])["lead_id"] == lead_id
    assert http.get(f"/api/v1/lead/{lead_id}", headers=auth).status_code == 404


def test_a_deactivated_lead_is_refused(app, companies, sdk_factory, sdk_a, http):
    agent_id = make_agent(app, companies[0])
    first = _register(sdk_factory, agent_id, email="spam@example.com")
    headers = {"Authorization": f"Bearer {first['access_token']}"}
    assert http.get("/api/v1/conversation/entity", headers=headers).status_code == 200
    sdk_a.leads.update_lead(first["lead"]["id"], {"is_active": False})
    assert http.get("/api/v1/conversation/entity", headers=headers).status_code == 401
    with pytest.raises(KnowrithmAPIError) as err:
        _register(sdk_factory, agent_id, email="spam@example.com")
    assert err.value.status_code == 403
