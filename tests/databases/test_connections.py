"""Database connections through knowrithm-py against real PostgreSQL, MariaDB and SQLite."""
import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError


def _create(sdk, agent_id, url, kind="postgres", name="shop"):
    return sdk.databases.create_connection(name, url, kind, agent_id)


@pytest.mark.parametrize("engine", ["postgres", "mysql", "sqlite"])
def test_create_analyze_and_query_each_engine(request, engine, sdk_a, agent_ids, celery_worker):
    url = request.getfixturevalue({"postgres": "customer_postgres", "mysql": "customer_mysql",
                                   "sqlite": "customer_sqlite"}[engine])
    created = _create(sdk_a, agent_ids[0], url, engine)
    conn = created["connection"]
    assert created["is_active"] is True and created["test_result"] == "Connection successful"
    assert conn["database_type"] == {"postgres": "postgresql"}.get(engine, engine) == conn["type"]
    assert "url" not in conn and url not in str(created)  # the URL (a secret) never comes back

    analysis = sdk_a.databases.analyze_connection(conn["id"])  # 202 + SDK task polling
    assert analysis["tables_found"] == 2 and set(analysis["tables"]) == {"customers", "orders"}
    tables = sdk_a.databases.list_tables(conn["id"])["tables"]
    orders = next(t for t in tables if t["table_name"] == "orders")
    assert orders["row_count"] == 4
    assert orders["relationships"][0]["referred_table"] == "customers"
    assert sdk_a.databases.get_table(orders["id"])["table_name"] == "orders"

    graph = sdk_a.databases.get_knowledge_graph(conn["id"])
    assert {"source": "orders", "target": "customers"}.items() <= graph["edges"][0].items()
    snapshot = sdk_a.databases.get_semantic_snapshot(conn["id"])["snapshot"]
    customers = next(t for t in snapshot["tables"] if t["name"] == "customers")
    assert customers["sample_values"]["country"] == ["Finland", "France", "USA"]
    assert sdk_a.databases.get_sample_queries(conn["id"])["sample_queries"]

    answer = sdk_a.databases.text_to_sql(conn["id"], "How many customers are in the USA?")
    assert answer["generator"] == "rules" and answer["executed"] is True
    assert list(answer["results"][0].values()) == [2]
    answer = sdk_a.databases.text_to_sql(conn["id"], "What is the total amount of paid orders?")
    assert float(list(answer["results"][0].values())[0]) == pytest.approx(510.75)
    answer = sdk_a.databases.text_to_sql(conn["id"], "Which order has the highest amount?")
    assert answer["results"][0]["id"] == 4

    found = sdk_a.analytics.search_database("SELECT name FROM customers ORDER BY id", connection_id=conn["id"])
    assert [r["name"] for r in found["results"]["shop"]] == ["Ada", "Grace", "Linus", "Margaret"]
    assert found["mode"] == "sql" and "execution_time" in found


def test_only_read_only_selects_run(sdk_a, agent_ids, customer_postgres, app):
    conn = _create(sdk_a, agent_ids[0], customer_postgres)["connection"]
    for sql in ("DELETE FROM customers", "SELECT 1; DROP TABLE customers", "UPDATE orders SET amount = 0",
                "CREATE TABLE x (id int)"):
        found = sdk_a.analytics.search_database(sql, connection_id=conn["id"])
        assert "error" in found["results"]["shop"], sql
    still = sdk_a.analytics.search_database("SELECT COUNT(*) AS n FROM customers", connection_id=conn["id"])
    assert still["results"]["shop"] == [{"n": 4}]


def test_connection_lifecycle(sdk_a, agent_ids, customer_postgres, customer_mysql, celery_worker):
    conn = _create(sdk_a, agent_ids[0], customer_postgres)["connection"]
    listed = sdk_a.databases.list_connections()
    assert [c["id"] for c in listed["connections"]] == [conn["id"]] == [c["id"] for c in listed["connection"]]
    assert sdk_a.databases.get_connection(conn["id"])["connection"]["name"] == "shop"

    updated = sdk_a.databases.update_connection(conn["id"], name="shop-main", url=customer_mysql, database_type="mysql")
    assert updated["connection"]["name"] == "shop-main" and updated["connection"]["database_type"] == "mysql"
    assert set(updated["updated_fields"]) >= {"name", "url", "database_type"}
    patched = sdk_a.databases.patch_connection(conn["id"], {"name": "shop-2"})
    assert patched["connection"]["name"] == "shop-2"
    assert sdk_a.databases.test_connection(conn["id"])["is_valid"] is True

    sdk_a.databases.analyze_connection(conn["id"])
    table_id = sdk_a.databases.list_tables(conn["id"])["tables"][0]["id"]
    sdk_a.databases.delete_table(table_id)
    assert [t["id"] for t in sdk_a.databases.list_deleted_tables()["deleted_tables"]] == [table_id]
    assert sdk_a.databases.restore_table(table_id)["table"]["id"] == table_id
    assert sdk_a.databases.delete_tables_for_connection(conn["id"])["deleted"] == 2
    sdk_a.databases.analyze_multiple_connections({"connection_ids": [conn["id"]]})
    assert len(sdk_a.databases.list_tables(conn["id"])["tables"]) == 2

    deleted = sdk_a.databases.delete_connection(conn["id"])
    assert deleted["connection_id"] == conn["id"] and deleted["deleted_tables_count"] == 2
    assert [c["id"] for c in sdk_a.databases.list_deleted_connections()["connections"]] == [conn["id"]]
    assert sdk_a.databases.list_connections()["connections"] == []
    assert sdk_a.databases.restore_connection(conn["id"])["connection"]["id"] == conn["id"]
    assert len(sdk_a.databases.list_tables(conn["id"])["tables"]) == 2


def test_unreachable_database_is_saved_inactive(sdk_a, agent_ids):
    created = _create(sdk_a, agent_ids[0], "postgresql://nobody@127.0.0.1:1/none")
    assert created["is_active"] is False and created["test_result"] != "Connection successful"
    assert sdk_a.databases.test_connection(created["connection"]["id"])["status"] == "failed"


def test_bad_input(sdk_a, agent_ids, customer_postgres, tmp_path):
    cases = [
        (lambda: _create(sdk_a, agent_ids[0], customer_postgres, "oracle"), 400, "database_type"),
        (lambda: _create(sdk_a, agent_ids[0], "not a url", "postgres"), 400, "url"),
        (lambda: _create(sdk_a, agent_ids[0], f"sqlite:///{tmp_path}/outside.db", "sqlite"), 400, "url"),
        (lambda: sdk_a.databases.text_to_sql("00000000-0000-0000-0000-000000000000", "x"), 404, None),
        (lambda: _create(sdk_a, "00000000-0000-0000-0000-000000000000", customer_postgres), 404, None),
    ]
    for call, status, field in cases:
        with pytest.raises(KnowrithmAPIError) as err:
            call()
        assert err.value.status_code == status
        if field:
            assert field in err.value.response_data["details"]


def test_sqlite_files_only_inside_database_file_dirs(sdk_a, agent_ids, customer_sqlite, settings, tmp_path):
    """DATABASE_FILE_DIRS is enforced when the connection is created, updated and tested."""
    import shutil
    from pathlib import Path

    inside = Path(customer_sqlite.removeprefix("sqlite:///"))
    outside = tmp_path / "outside.db"
    shutil.copy(inside, outside)
    escape_link = inside.parent / f"link-{inside.name}"
    escape_link.symlink_to(outside)
    try:
        refused = [f"sqlite:///{outside}", f"sqlite:///{inside.parent}/../{inside.parent.name}/{inside.name}",
                   f"sqlite:///{escape_link}", "sqlite:////etc/passwd", "sqlite:///../x.db", "sqlite:///:memory:"]
        for url in refused:
            with pytest.raises(KnowrithmAPIError) as err:
                _create(sdk_a, agent_ids[0], url, "sqlite")
            assert err.value.status_code == 400, url
            if ":memory:" not in url:
                assert "DATABASE_FILE_DIRS" in err.value.response_data["error"], url
                assert err.value.response_data["code"] == "DATABASE_FILE_FORBIDDEN"
        assert sdk_a.databases.list_connections()["connections"] == []

        ok = _create(sdk_a, agent_ids[0], customer_sqlite, "sqlite")
        assert ok["is_active"] is True
        conn_id = ok["connection"]["id"]
        with pytest.raises(KnowrithmAPIError) as err:  # and no update moves it out
            sdk_a.databases.update_connection(conn_id, url=f"sqlite:///{outside}")
        assert err.value.status_code == 400 and "DATABASE_FILE_DIRS" in err.value.response_data["error"]

        # The operator narrows the setting: the saved connection now fails its test, saying why.
        old = settings.DATABASE_FILE_DIRS
        settings.DATABASE_FILE_DIRS = str(tmp_path / "elsewhere")
        try:
            tested = sdk_a.databases.test_connection(conn_id)
        finally:
            settings.DATABASE_FILE_DIRS = old
        assert tested["is_valid"] is False and "DATABASE_FILE_DIRS" in tested["message"]
        # Several directories, path-separated: a second one admits the outside file.
        settings.DATABASE_FILE_DIRS = f"{inside.parent}:{tmp_path}"
        try:
            assert _create(sdk_a, agent_ids[0], f"sqlite:///{outside}", "sqlite", name="second")["is_active"] is True
        finally:
            settings.DATABASE_FILE_DIRS = old
    finally:
        escape_link.unlink(missing_ok=True)


def test_other_company_cannot_touch_a_connection(sdk_a, sdk_b, agent_ids, customer_postgres, celery_worker):
    conn_id = _create(sdk_a, agent_ids[0], customer_postgres)["connection"]["id"]
    sdk_a.databases.analyze_connection(conn_id)
    table_id = sdk_a.databases.list_tables(conn_id)["tables"][0]["id"]
    calls = [
        lambda: sdk_b.databases.get_connection(conn_id),
        lambda: sdk_b.databases.update_connection(conn_id, name="stolen"),
        lambda: sdk_b.databases.delete_connection(conn_id),
        lambda: sdk_b.databases.test_connection(conn_id),
        lambda: sdk_b.databases.analyze_connection(conn_id),
        lambda: sdk_b.databases.list_tables(conn_id),
        lambda: sdk_b.databases.get_table(table_id),
        lambda: sdk_b.databases.delete_table(table_id),
        lambda: sdk_b.databases.text_to_sql(conn_id, "How many customers?"),
        lambda: sdk_b.databases.get_semantic_snapshot(conn_id),
        lambda: sdk_b.databases.export_connection(conn_id),
        lambda: sdk_b.analytics.search_database("SELECT 1", connection_id=conn_id),
        lambda: _create(sdk_b, agent_ids[0], customer_postgres),
        lambda: sdk_b.databases.patch_connection(conn_id, {"name": "stolen"}),
        lambda: sdk_b.databases.restore_connection(conn_id),
        lambda: sdk_b.databases.get_knowledge_graph(conn_id),
        lambda: sdk_b.databases.get_sample_queries(conn_id),
        lambda: sdk_b.databases.restore_table(table_id),
        lambda: sdk_b.databases.delete_tables_for_connection(conn_id),
        lambda: sdk_b.databases.analyze_multiple_connections({"connection_ids": [conn_id]}),
        lambda: sdk_b._make_request("GET", f"/database-connection/agent/{agent_ids[0]}"),
    ]
    for call in calls:
        with pytest.raises(KnowrithmAPIError) as err:
            call()
        assert err.value.status_code == 404
    assert sdk_b.databases.list_connections()["connections"] == []
    # What company A deletes is not in company B's bins either.
    sdk_a.databases.delete_table(table_id)
    assert table_id in str(sdk_a.databases.list_deleted_tables())
    assert table_id not in str(sdk_b.databases.list_deleted_tables())
    assert conn_id not in str(sdk_b.databases.list_deleted_connections())
    sdk_a.databases.restore_table(table_id)
    assert sdk_a.databases.get_connection(conn_id)["connection"]["name"] == "shop"


def test_read_key_can_query_but_not_create(sdk_for, sdk_a, companies, agent_ids, customer_postgres):
    conn_id = _create(sdk_a, agent_ids[0], customer_postgres)["connection"]["id"]
    reader = sdk_for(companies[0], scopes=("read",))
    with pytest.raises(KnowrithmAPIError) as err:
        _create(reader, agent_ids[0], customer_postgres)
    assert err.value.status_code == 403
    assert reader.databases.text_to_sql(conn_id, "How many orders are there?")["results"] == [{"count": 4}]


def test_export_turns_tables_into_searchable_knowledge(sdk_a, agent_ids, customer_postgres, celery_worker, http):
    import time

    conn_id = _create(sdk_a, agent_ids[0], customer_postgres)["connection"]["id"]
    exported = sdk_a.databases.export_connection(conn_id)
    assert exported["tables_exported"] == 2 and exported["failures"] == []
    assert {t["table"]: t["rows"] for t in exported["tables"]} == {"customers": 4, "orders": 4}
    deadline = time.time() + 60
    while time.time() < deadline:
        docs = sdk_a.documents.list_documents()["documents"]
        if docs and all(d["status"] in ("processed", "failed") for d in docs):
            break
        time.sleep(0.3)
    assert {d["status"] for d in docs} == {"processed"}, docs
    hits = sdk_a.analytics.search_documents("Margaret USA", agent_ids[0])
    assert "Margaret" in hits["results"][0]["content"]
