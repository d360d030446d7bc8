"""Companies through knowrithm-py: lifecycle, visibility, figures, cascade."""
import uuid
from pathlib import Path

import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError

from tests.conftest import poll_task
from tests.admin.helpers import admin_headers, audit_rows, bearer, load, user_headers
from tests.widget.helpers import make_agent

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _error(call) -> KnowrithmAPIError:
    with pytest.raises(KnowrithmAPIError) as err:
        call()
    return err.value


def _company(app, company_id):
    from knowrithm.domains.companies.models import Company

    return load(app, Company, company_id)


def test_create_company_json_is_public_and_queued(app, sdk_factory, http, celery_worker):
    anon = sdk_factory("ak_stale", "as_stale")
    result = anon.companies.create_company({"name": "Initech", "email": "Hello@Initech.test", "phone": "555",
                                            "website": "https://initech.test", "industry": "software"})
    company = result["company"]
    assert result["message"] and company["name"] == "Initech" and company["email"] == "hello@initech.test"
    assert company["website"] == "https://initech.test" and company["is_active"] is True
    assert company["status"] == "active" and company["deleted_at"] is None
    assert _company(app, uuid.UUID(company["id"])).industry == "software"
    assert audit_rows(app, "company.created")[-1].entity_id == company["id"]

    # The raw acknowledgement is the task envelope (docs/api-compatibility.md, "Asynchronous tasks").
    ack = http.post("/api/v1/company", json={"name": "Vandelay", "email": "art@vandelay.test"})
    assert ack.status_code == 202 and ack.json()["status"] == "accepted"
    assert ack.json()["status_url"] == f"/api/v1/tasks/{ack.json()['task_id']}/status"
    done = poll_task(http, ack.json()["status_url"])
    assert done["status"] == "completed" and done["result"]["company"]["name"] == "Vandelay"


def test_create_company_bad_input_and_duplicates(companies, sdk_factory, http):
    anon = sdk_factory()
    err = _error(lambda: anon.companies.create_company({"name": "NoMail"}))
    assert err.status_code == 400 and "email" in err.response_data["details"]
    err = _error(lambda: anon.companies.create_company({"name": "", "email": "not-an-email"}))
    assert err.status_code == 400 and {"name", "email"} <= set(err.response_data["details"])
    err = _error(lambda: anon.companies.create_company({"name": "acme", "email": "x@acme.test"}))
    assert err.status_code == 409 and "name" in err.response_data["details"]
    err = _error(lambda: anon.companies.create_company({"name": "Hooli", "email": "h@hooli.test", "address_id": 999999}))
    assert err.status_code == 400 and "address_id" in err.response_data["details"]
    resp = http.post("/api/v1/company", data="[1,2]", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json()["success"] is False


def test_create_company_multipart_with_logo(app, settings, sdk_factory, tmp_path, celery_worker):
    logo = tmp_path / "logo.png"
    logo.write_bytes(PNG)
    result = sdk_factory().companies.create_company({"name": "Pied Piper", "email": "r@piedpiper.test"},
                                                    logo_path=logo)
    key = result["company"]["logo"]
    assert key.startswith("logos/") and key.endswith(".png")
    assert (Path(settings.UPLOAD_FOLDER) / key).read_bytes() == PNG

    fake = tmp_path / "fake.png"
    fake.write_text("<svg onload=alert(1)>")
    err = _error(lambda: sdk_factory().companies.create_company({"name": "Evil", "email": "e@evil.test"},
                                                                logo_path=fake))
    assert err.status_code == 400 and "logo" in err.response_data["details"]


def test_get_company_is_flat_with_mirror(app, companies, sdk_a, sdk_b, http):
    body = sdk_a.companies.get_company()
    assert body["id"] == str(companies[0].company_id) and body["name"] == "Acme"
    assert body["company"]["id"] == body["id"] and "task_id" not in body
    assert sdk_b.companies.get_company()["name"] == "Globex"
    # Any role can read its own company; by id too, but never another's.
    plain = user_headers(app, http, companies[0])
    assert sdk_a.companies.get_company(headers=plain)["name"] == "Acme"
    assert http.get(f"/api/v1/company/{companies[0].company_id}", headers=plain).json()["name"] == "Acme"
    resp = http.get(f"/api/v1/company/{companies[1].company_id}", headers=plain)
    assert resp.status_code == 404 and resp.json()["success"] is False
    assert http.get("/api/v1/company/not-a-uuid", headers=plain).status_code == 404


def test_super_admin_names_the_company_it_reads(companies, http, super_admin_token):
    headers = bearer(super_admin_token)
    resp = http.get("/api/v1/company", headers=headers)  # the super admin has no company of its own
    assert resp.status_code == 403 and resp.json()["success"] is False
    body = http.get("/api/v1/company", params={"company_id": str(companies[1].company_id)}, headers=headers).json()
    assert body["name"] == "Globex"
    assert http.get(f"/api/v1/company/{companies[0].company_id}", headers=headers).json()["name"] == "Acme"
    assert http.get("/api/v1/company", params={"company_id": "x"}, headers=headers).status_code == 400


def test_super_admin_listing_has_both_pagination_key_sets(companies, sdk_a, sdk_factory, http, super_admin_token):
    sa = sdk_factory()
    headers = bearer(super_admin_token)
    page = sa.companies.list_companies(page=1, per_page=1, headers=headers)
    assert len(page["companies"]) == 1 and page["data"] == page["companies"]
    p = page["pagination"]
    assert p["total"] == p["total_items"] == 2 and p["pages"] == p["total_pages"] == 2
    assert p["current_page"] == 1 and p["has_next"] is True and p["next_page"] == 2 and p["prev_page"] is None
    second = sa.companies.list_companies(page=2, per_page=1, headers=headers)
    assert {page["companies"][0]["name"], second["companies"][0]["name"]} == {"Acme", "Globex"}
    found = http.get("/api/v1/super-admin/company?search=glob", headers=headers).json()
    assert [c["name"] for c in found["companies"]] == ["Globex"]
    # Company admins (key or JWT) are not super admins.
    assert _error(lambda: sdk_a.companies.list_companies()).status_code == 403
    assert _error(lambda: sdk_a.companies.list_companies(headers=admin_headers(http, companies[0]))).status_code == 403
    assert http.get("/api/v1/super-admin/company?per_page=1000", headers=headers).status_code == 400


def _activity(app, tenant):
    """Leads in several states and conversations for the statistics."""
    from knowrithm.domains.conversations.models import Conversation
    from knowrithm.domains.leads.models import Lead
    from knowrithm.infra.db import db

    agent_id = make_agent(app, tenant)
    with app.app_context():
        for i, status in enumerate(("new", "qualified", "converted", "converted")):
            db.session.add(Lead(company_id=tenant.company_id, email=f"l{i}@x.test", status=status))
        db.session.add(Conversation(company_id=tenant.company_id, agent_id=agent_id, status="active"))
        db.session.add(Conversation(company_id=tenant.company_id, agent_id=agent_id, status="archived"))
        db.session.commit()
        db.session.remove()


def test_statistics_own_and_by_id(app, companies, sdk_a, sdk_b, sdk_factory, super_admin_token):
    _activity(app, companies[0])
    stats = sdk_a.companies.get_company_statistics()["statistics"]
    assert stats == {"total_leads": 4, "qualified_leads": 3, "converted_leads": 2, "active_conversations": 1,
                     "total_conversations": 2, "conversion_rate": 50.0, "period_days": 30}
    by_id = sdk_a.companies.get_company_statistics(company_id=str(companies[0].company_id), days=7)
    assert by_id["statistics"]["total_leads"] == 4 and by_id["statistics"]["period_days"] == 7
    assert sdk_b.companies.get_company_statistics()["statistics"]["total_leads"] == 0
    # B cannot read A's figures; the super admin can.
    err = _error(lambda: sdk_b.companies.get_company_statistics(company_id=str(companies[0].company_id)))
    assert err.status_code == 404
    sa = sdk_factory().companies.get_company_statistics(company_id=str(companies[0].company_id),
                                                        headers=bearer(super_admin_token))
    assert sa["statistics"]["qualified_leads"] == 3
    err = _error(lambda: sdk_a.companies.get_company_statistics(days=0))
    assert err.status_code == 400 and "days" in err.response_data["details"]


def test_update_company_put_json_and_multipart(app, settings, companies, sdk_a, sdk_b, tmp_path, celery_worker):
    a = str(companies[0].company_id)
    result = sdk_a.companies.update_company(a, {"name": "Acme Corp", "phone": "+1 555 0100"})
    assert result["success"] is True and result["data"]["name"] == "Acme Corp"
    assert result["data"]["phone"] == "+1 555 0100" and result["data"]["email"] == "contact@acme.test"
    logo = tmp_path / "a.png"
    logo.write_bytes(PNG)
    with_logo = sdk_a.companies.update_company(a, {"industry": "anvils"}, logo_path=logo)
    first_logo = with_logo["data"]["logo"]
    assert first_logo.startswith("logos/") and with_logo["data"]["industry"] == "anvils"
    replaced = sdk_a.companies.update_company(a, {"industry": "rockets"}, logo_path=logo)["data"]["logo"]
    assert replaced != first_logo and not (Path(settings.UPLOAD_FOLDER) / first_logo).exists()
    assert audit_rows(app, "company.updated")[-1].details == {"fields": ["industry", "logo"]}

    # Company B: 404 on A's id, and nothing changes.
    err = _error(lambda: sdk_b.companies.update_company(a, {"name": "Hijacked"}))
    assert err.status_code == 404
    assert _company(app, companies[0].company_id).name == "Acme Corp"


def test_update_company_rules(app, companies, sdk_a, sdk_for, http):
    a = str(companies[0].company_id)
    err = _error(lambda: sdk_a.companies.update_company(a, {"email": "nope"}))
    assert err.status_code == 400 and "email" in err.response_data["details"]
    err = _error(lambda: sdk_a.companies.update_company(a, {"unknown": 1}))
    assert err.status_code == 400
    err = _error(lambda: sdk_a.companies.update_company(a, {"name": "Globex"}))
    assert err.status_code == 409
    writer = sdk_for(companies[0], scopes=("read", "write"))
    assert _error(lambda: writer.companies.update_company(a, {"name": "X"})).status_code == 403
    plain = user_headers(app, http, companies[0])
    assert _error(lambda: sdk_a.companies.update_company(a, {"name": "X"}, headers=plain)).status_code == 403
    assert _company(app, companies[0].company_id).name == "Acme"


def test_patch_company_is_super_admin_only(app, companies, sdk_a, sdk_factory, http, super_admin_token, celery_worker):
    a = str(companies[0].company_id)
    result = sdk_factory().companies.patch_company(a, {"industry": "explosives"}, headers=bearer(super_admin_token))
    assert result["data"]["industry"] == "explosives" and result["data"]["name"] == "Acme"
    assert audit_rows(app, "company.patched")[-1].entity_id == a
    assert _error(lambda: sdk_a.companies.patch_company(a, {"industry": "x"})).status_code == 403
    err = _error(lambda: sdk_a.companies.patch_company(a, {"industry": "x"}, headers=admin_headers(http, companies[0])))
    assert err.status_code == 403
    err = _error(lambda: sdk_factory().companies.patch_company(str(uuid.uuid4()), {"industry": "x"},
                                                               headers=bearer(super_admin_token)))
    assert err.status_code == 404


def test_soft_delete_list_deleted_and_restore(app, companies, sdk_a, sdk_b, celery_worker):
    a, b = str(companies[0].company_id), str(companies[1].company_id)
    # B can neither delete nor restore A.
    assert _error(lambda: sdk_b.companies.delete_company(a)).status_code == 404
    assert _company(app, companies[0].company_id).deleted_at is None

    result = sdk_a.companies.delete_company(a)
    assert result["company_id"] == a
    assert _company(app, companies[0].company_id).deleted_at is not None
    deleted = sdk_a.companies.list_deleted_companies()
    assert [c["id"] for c in deleted["deleted_companies"]] == [a] and deleted["companies"][0]["status"] == "deleted"
    assert sdk_b.companies.list_deleted_companies()["deleted_companies"] == []
    assert _error(lambda: sdk_a.companies.delete_company(a)).status_code == 404  # already deleted
    assert _error(lambda: sdk_b.companies.restore_company(a)).status_code == 404
    assert _company(app, companies[0].company_id).deleted_at is not None

    restored = sdk_a.companies.restore_company(a)
    assert restored["company"]["id"] == a and restored["company"]["deleted_at"] is None
    assert sdk_a.companies.list_deleted_companies()["deleted_companies"] == []
    assert [r.risk_level for r in audit_rows(app, "company.deleted")] == ["high"]
    assert sdk_b.companies.get_company()["id"] == b


def test_delete_needs_write_and_admin_role(app, companies, sdk_for, http):
    a = str(companies[0].company_id)
    reader = sdk_for(companies[0], scopes=("read",))
    assert _error(lambda: reader.companies.delete_company(a)).status_code == 403
    plain = user_headers(app, http, companies[0])
    assert http.delete(f"/api/v1/company/{a}", headers=plain).status_code == 403
    assert _company(app, companies[0].company_id).deleted_at is None


def test_bulk_delete_and_restore(app, companies, sdk_a, sdk_factory, http, super_admin_token, celery_worker):
    a, b = str(companies[0].company_id), str(companies[1].company_id)
    # A company admin naming another company: 404, nothing deleted.
    err = _error(lambda: sdk_a.companies.bulk_delete_companies([a, b]))
    assert err.status_code == 404 and err.response_data["details"]["company_ids"] == [f"{b} not found"]
    assert _company(app, companies[0].company_id).deleted_at is None

    sa = sdk_factory()
    headers = bearer(super_admin_token)
    result = sa.companies.bulk_delete_companies([a, b], headers=headers)
    assert result["deleted"] == 2 and set(result["deleted_ids"]) == {a, b}
    assert {c["id"] for c in sa.companies.list_deleted_companies(headers=headers)["companies"]} == {a, b}
    assert sdk_a.companies.list_deleted_companies()["deleted_companies"][0]["id"] == a

    err = _error(lambda: sdk_a.companies.bulk_restore_companies([b]))
    assert err.status_code == 404 and _company(app, companies[1].company_id).deleted_at is not None
    assert sdk_a.companies.bulk_restore_companies([a])["restored"] == 1
    result = sa.companies.bulk_restore_companies([a, b], headers=headers)
    assert result["restored"] == 1 and result["restored_ids"] == [b]

    for payload in ({}, {"company_ids": []}, {"company_ids": ["nope"]}):
        resp = http.delete("/api/v1/company/bulk-delete", json=payload, headers=headers)
        assert resp.status_code == 400 and "company_ids" in str(resp.json()["details"])


def test_related_data_and_cascade_delete(app, settings, companies, sdk_a, sdk_b, sdk_factory, http, super_admin_token,
                                         celery_worker):
    from knowrithm.domains.auth.models import User

    a = str(companies[0].company_id)
    _activity(app, companies[0])
    sa = sdk_factory()
    headers = bearer(super_admin_token)
    summary = sa.companies.get_related_data_summary(a, headers=headers)
    assert summary["company_name"] == "Acme"
    counts = summary["related_data"]
    assert counts["users"] == 1 and counts["leads"] == 4 and counts["conversations"] == 2 and counts["agents"] == 1
    assert counts["api_keys"] == 1  # sdk_a's key
    assert summary["total_related_records"] == sum(counts.values())

    assert _error(lambda: sdk_a.companies.get_related_data_summary(a)).status_code == 403
    assert _error(lambda: sdk_b.companies.cascade_delete_company(a)).status_code == 403
    err = _error(lambda: sa.companies.cascade_delete_company(a, delete_related=False, headers=headers))
    assert err.status_code == 409 and "leads" in err.response_data["details"]
    err = _error(lambda: sa.companies.get_related_data_summary(str(uuid.uuid4()), headers=headers))
    assert err.status_code == 404

    result = sa.companies.cascade_delete_company(a, headers=headers)
    assert result["deleted"] is True and result["deleted_counts"]["leads"] == 4 and result["leads"] == 4
    assert _company(app, companies[0].company_id) is None
    assert load(app, User, companies[0].admin_id) is None
    # The deleted company's API key stops working at once; company B is untouched.
    assert _error(lambda: sdk_a.companies.get_company()).status_code == 401
    assert sdk_b.companies.get_company()["name"] == "Globex"
    assert audit_rows(app, "company.cascade_deleted")[-1].risk_level == "critical"
