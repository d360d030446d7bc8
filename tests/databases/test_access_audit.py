"""Database connections are audited as data access: created, tested and queried."""
from tests.admin.helpers import audit_rows


def test_connection_create_test_and_query_are_audited(app, sdk_a, agent_ids, customer_postgres):
    conn = sdk_a.databases.create_connection("shop", customer_postgres, "postgres", agent_ids[0])["connection"]
    sdk_a.databases.test_connection(conn["id"])
    found = sdk_a.analytics.search_database("SELECT COUNT(*) AS n FROM customers", connection_id=conn["id"])
    assert found["results"]["shop"] == [{"n": 4}]
    created = audit_rows(app, "database.connection_created")
    tested = audit_rows(app, "database.connection_tested")
    queried = audit_rows(app, "database.queried")
    assert len(created) == 1 and created[0].api_key_id is not None and created[0].event_category == "data_access"
    assert [r.entity_id for r in tested] == [conn["id"]]
    assert len(queried) == 1 and queried[0].ip_address == "127.0.0.1"
    # The connection URL (a secret) is never written into the audit row.
    assert all("postgresql://" not in str(r.details) for r in created + tested + queried)
