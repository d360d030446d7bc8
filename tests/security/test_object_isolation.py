"""Object-level isolation on real rows: company A is filled with one of everything (agent,
document and chunks, website source, database connection and table, conversation and messages,
lead, LLM settings, a custom provider and model, API key, user), then every operation of the
spec that names an object by id is called by company B's strongest principals (its admin's
login and a `full_access` key) with A's ids. Each call is refused, no response carries A's
data, and none of A's rows changes. The permission matrix proves the principal levels; this
proves that an id from another company is never enough."""
from __future__ import annotations

import re

from sqlalchemy import text

from tests.admin.helpers import admin_headers
from tests.conftest import make_api_key
from tests.lifecycle.helpers import populate

# Path parameter -> the table whose row it names (every one of them company-owned).
OWNED = {
    "agent_id": "agents", "document_id": "documents", "chunk_id": "document_chunks", "source_id": "website_sources",
    "connection_id": "database_connections", "table_id": "database_tables", "conversation_id": "conversations",
    "message_id": "messages", "lead_id": "leads", "settings_id": "llm_settings", "provider_id": "providers",
    "model_id": "provider_models", "api_key_id": "api_keys", "user_id": "users", "company_id": "companies",
}
LOG_TABLES = re.compile(r"audit|request_log|usage|task_record|rollup|metric")


def _extras(app, tenant, agent_id: str, connection_name: str) -> None:
    """What `populate` does not make: settings, a custom provider and model, a table row."""
    from knowrithm.domains.databases.models import DatabaseConnection, DatabaseTable
    from knowrithm.domains.llm.models import LLMSettings, Provider, ProviderModel
    from knowrithm.infra.db import db
    from knowrithm.infra.tenancy import company_scope

    with app.app_context(), company_scope(tenant.company_id):
        provider = Provider(company_id=tenant.company_id, value="acme-vllm", label="Acme vLLM", requires_base_url=True)
        db.session.add(provider)
        db.session.flush()
        model = ProviderModel(company_id=tenant.company_id, provider_id=provider.id, name="acme-7b", model_type="llm")
        db.session.add(model)
        db.session.flush()
        db.session.add(LLMSettings(company_id=tenant.company_id, llm_provider_id=provider.id, llm_model_id=model.id,
                                   embedding_provider_id=provider.id, embedding_model_id=model.id))
        conn = db.session.execute(db.select(DatabaseConnection).where(DatabaseConnection.name == connection_name)
                                  ).scalar_one()
        db.session.add(DatabaseTable(company_id=tenant.company_id, connection_id=conn.id, table_name="orders"))
        db.session.commit()
        db.session.remove()


def _ids(app, company_id) -> dict[str, str]:
    from knowrithm.infra.db import db

    out = {}
    with app.app_context():
        for param, table in OWNED.items():
            column = "id" if table == "companies" else "company_id"
            out[param] = str(db.session.execute(text(f'SELECT id FROM "{table}" WHERE {column} = :c ORDER BY id LIMIT 1'),
                                                {"c": company_id}).scalar_one())
        db.session.remove()
    return out


def _snapshot(app, company_id) -> dict[str, str]:
    """A digest of every row of company A (except append-only logs), table by table."""
    from knowrithm.infra.db import db

    out = {}
    with app.app_context():
        for table in db.metadata.sorted_tables:
            if LOG_TABLES.search(table.name):
                continue
            column = "id" if table.name == "companies" else "company_id"
            if column not in table.c:
                continue
            out[table.name] = db.session.execute(text(
                f'SELECT count(*) || \':\' || coalesce(md5(string_agg(md5(t::text), \'\' ORDER BY t::text)), \'\') '
                f'FROM "{table.name}" t WHERE {column} = :c'), {"c": company_id}).scalar_one()
        db.session.remove()
    return out


def test_another_companys_ids_open_nothing(app, companies, sdk_factory, http, tmp_path, celery_worker):
    acme, globex = companies
    footprint = populate(app, acme, sdk_factory, http, tmp_path, "zorblaxacme")
    _extras(app, acme, footprint.agent_id, "zorblaxacme shop")
    ids = _ids(app, acme.company_id)
    key, secret = make_api_key(app, globex, scopes=("full_access",))
    intruders = {"globex admin": admin_headers(http, globex), "globex key": {"X-API-Key": key, "X-API-Secret": secret}}
    secrets_of_a = [footprint.word, *ids.values()]
    before = _snapshot(app, acme.company_id)

    spec = http.get("/api/openapi.json").json()
    failures, refusals = [], {}
    for path, ops in spec["paths"].items():
        params = re.findall(r"\{(\w+)\}", path)
        if not params or any(p not in OWNED for p in params):
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)
        for method, op in ops.items():
            if op.get("x-access") == "public":
                continue  # public by design (the widget's safe agent view): the matrix covers it
            for who, headers in intruders.items():
                body = {} if method.upper() in ("POST", "PUT", "PATCH", "DELETE") else None
                resp = http.request(method.upper(), url, json=body, headers=headers, timeout=60)
                refusals[resp.status_code] = refusals.get(resp.status_code, 0) + 1
                leaked = [s for s in secrets_of_a if s in resp.text and s not in url]
                if resp.status_code not in (400, 401, 403, 404, 409, 422) or leaked:
                    failures.append((method.upper(), path, who, resp.status_code, leaked, resp.text[:160]))
    assert failures == [], failures
    assert sum(refusals.values()) > 150 and refusals.get(404, 0) > 100, refusals  # most refusals are "not found"
    assert _snapshot(app, acme.company_id) == before
