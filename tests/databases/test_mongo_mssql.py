"""MongoDB and SQL Server: neither server can run on this machine. What is proven here:

- MongoDB: the query validator against pymongo's own Extended JSON parser and BSON encoder; the
  connector (introspection, read-only aggregation with `$limit` and `maxTimeMS`) and the whole
  platform path (create, analyze, text-to-SQL, chat answers) against mongomock, an in-process fake of
  pymongo's client. Not proven: behaviour of a real mongod.
- SQL Server: URLs through SQLAlchemy's mssql+pymssql dialect (the real driver is imported), and the
  validator's T-SQL (sqlglot's tsql dialect: `TOP` instead of `LIMIT`, refusals). Not proven:
  execution, introspection or timeouts on a real server.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import mongomock
import pytest
from bson import json_util
from mongomock.store import ServerStore

from knowrithm.domains.databases.text_to_sql import _month_start, translate_to_pipeline
from knowrithm.integrations.databases import QueryRejected, get_connector
from knowrithm.integrations.databases import mongo as mongo_module
from tests.widget.helpers import make_agent

URL = "mongodb://127.0.0.1:27017/shop"


@pytest.fixture
def fake_mongo(monkeypatch):
    """Every MongoClient the platform creates (API thread or worker) talks to one in-process store."""
    store = ServerStore()
    monkeypatch.setattr(mongo_module, "MongoClient", lambda *a, **k: mongomock.MongoClient(*a, _store=store, **k))
    client = mongomock.MongoClient(URL, _store=store)
    today = datetime.now(timezone.utc).date()
    last_month = datetime.combine(_month_start(today, -1), datetime.min.time())
    march = datetime(today.year if today.month >= 3 else today.year - 1, 3, 1)
    client.shop.orders.insert_many([
        {"customer": "Dana", "product": "Widget", "quantity": 3, "status": "paid", "ordered_at": last_month + timedelta(days=2)},
        {"customer": "Dana", "product": "Lamp", "quantity": 1, "status": "paid", "ordered_at": last_month + timedelta(days=9)},
        {"customer": "Dana", "product": "Gadget", "quantity": 2, "status": "shipped", "ordered_at": march + timedelta(days=4)},
        {"customer": "Ada", "product": "Gadget", "quantity": 4, "status": "paid", "ordered_at": march + timedelta(days=3)},
        {"customer": "Grace", "product": "Gadget", "quantity": 5, "status": "refunded", "ordered_at": march + timedelta(days=8)},
        {"customer": "Grace", "product": "Widget", "quantity": 2, "status": "paid", "ordered_at": march + timedelta(days=9)},
    ])
    client.shop.customers.insert_many([{"name": "Dana", "country": "Portugal"}, {"name": "Ada", "country": "France"}])
    return client


def connector():
    return get_connector("mongodb", URL, {}, allow_private=True)


@pytest.mark.parametrize("query", [
    {"collection": "orders", "pipeline": [{"$out": "stolen"}]},
    {"collection": "orders", "pipeline": [{"$merge": {"into": "stolen"}}]},
    {"collection": "orders", "pipeline": [{"$match": {"$where": "sleep(1000)"}}]},
    {"collection": "orders", "pipeline": [{"$addFields": {"x": {"$function": {"body": "f", "args": [], "lang": "js"}}}}]},
    {"collection": "orders", "pipeline": [{"$group": {"_id": 1, "x": {"$accumulator": {}}}}]},
    {"collection": "orders", "pipeline": [{"$facet": {"a": [{"$out": "stolen"}]}}]},
    {"collection": "orders", "pipeline": [{"$lookup": {"from": "c", "pipeline": [{"$merge": "x"}], "as": "y"}}]},
    {"collection": "system.users", "pipeline": []},
    {"collection": "orders", "pipeline": [{"$currentOp": {}}]},
    {"collection": "orders", "pipeline": [{"$match": {}, "$limit": 1}]},
    {"pipeline": []},
])
def test_pipelines_that_write_run_code_or_inspect_are_refused(query):
    with pytest.raises(QueryRejected):
        connector().validate_select(json.dumps(query), limit=10)


def test_validation_uses_pymongo_extended_json():
    for text in ("not json", "[1, 2]", '{"collection": "orders", "pipeline": [{"$match": {"x": {"$date": "nope"}}}]}'):
        with pytest.raises(QueryRejected):
            connector().validate_select(text, limit=10)
    safe = connector().validate_select(
        '{"collection": "orders", "pipeline": [{"$match": {"ordered_at": {"$gte": {"$date": "2026-03-01T00:00:00Z"}}}}]}',
        limit=25)
    parsed = json_util.loads(safe)
    assert parsed["pipeline"][-1] == {"$limit": 25}
    assert isinstance(parsed["pipeline"][0]["$match"]["ordered_at"]["$gte"], datetime)
    kept = connector().validate_select('{"collection": "orders", "pipeline": [{"$limit": 5}]}', limit=25)
    assert json_util.loads(kept)["pipeline"] == [{"$limit": 5}]


def test_connector_introspects_and_reads_with_limits(fake_mongo, monkeypatch):
    tables = {t.name: t for t in connector().introspect()}
    assert set(tables) == {"orders", "customers"} and tables["orders"].row_count == 6
    types = {c["name"]: c["type"] for c in tables["orders"].columns}
    assert types["quantity"] == "INTEGER" and types["ordered_at"] == "DATETIME" and types["customer"] == "STRING"
    assert tables["orders"].sample_values["customer"] == ["Ada", "Dana", "Grace"]

    seen = {}
    real = mongomock.collection.Collection.aggregate

    def spy(self, pipeline, **kwargs):
        seen.update(kwargs, pipeline=pipeline)
        return real(self, pipeline, **kwargs)

    monkeypatch.setattr(mongomock.collection.Collection, "aggregate", spy)
    columns, rows = connector().execute_read('{"collection": "orders", "pipeline": [{"$sort": {"quantity": -1}}]}',
                                             limit=2, timeout_seconds=3)
    assert len(rows) == 2 and rows[0][columns.index("quantity")] == 5
    assert seen["maxTimeMS"] == 3000 and seen["pipeline"][-1] == {"$limit": 2}
    assert isinstance(rows[0][columns.index("_id")], str)  # ObjectId as text


def test_offline_pipelines_answer_shop_questions(fake_mongo):
    tables = [{"name": t.name, "columns": t.columns, "sample_values": t.sample_values, "row_count": t.row_count}
              for t in connector().introspect()]
    cases = [("How many orders did Dana place last month?", {"count": 2}),
             ("How many orders are refunded?", {"count": 1}),
             ("Which product sold most in March?", {"_id": "Gadget", "value": 11}),
             ("What is the total quantity of orders?", {"sum_quantity": 17})]
    for question, expected in cases:
        translation = translate_to_pipeline(question, tables)
        columns, rows = connector().execute_read(translation.sql, limit=10)
        assert dict(zip(columns, rows[0])) == expected and len(rows) == 1, (question, translation.sql)


def test_mongodb_through_the_platform(app, companies, sdk_a, fake_mongo, celery_worker):
    agent_id = make_agent(app, companies[0])
    created = sdk_a.databases.create_connection("shop-mongo", URL, "mongodb", str(agent_id))
    assert created["is_active"] is True and created["connection"]["database_type"] == "mongodb"
    conn_id = created["connection"]["id"]
    analysis = sdk_a.databases.analyze_connection(conn_id)
    assert set(analysis["tables"]) == {"orders", "customers"}
    answer = sdk_a.databases.text_to_sql(conn_id, "How many orders did Dana place last month?")
    assert answer["results"] == [{"count": 2}] and json.loads(answer["sql"])["collection"] == "orders"
    refused = sdk_a.analytics.search_database('{"collection": "orders", "pipeline": [{"$out": "x"}]}',
                                              connection_id=conn_id)
    assert "error" in refused["results"]["shop-mongo"]
    assert fake_mongo.shop.list_collection_names() == ["orders", "customers"] or \
        set(fake_mongo.shop.list_collection_names()) == {"orders", "customers"}

    conv_id = sdk_a.conversations.create_conversation(str(agent_id))["id"]
    reply = sdk_a.messages.send_message(conv_id, "Which product sold most in March?")
    source = next(s for s in reply["sources"] if s.get("type") == "database")
    assert "Gadget" in reply["content"] and source["connection_name"] == "shop-mongo" and source["cited"]
    assert json.loads(source["sql"])["pipeline"][-1] == {"$limit": 1}


def test_sql_server_urls_and_tsql_validation():
    c = get_connector("sqlserver", "mssql://reader:secret@db.example.com:1433/shop", {}, allow_private=True)
    assert c.type == "mssql" and c.host == "db.example.com:1433"
    assert c._url.drivername == "mssql+pymssql"  # SQLAlchemy's dialect for the real pymssql driver
    assert c.validate_select("SELECT name FROM customers WHERE country = 'USA'", limit=50) == \
        "SELECT TOP 50 name FROM customers WHERE country = 'USA'"
    assert c.validate_select("SELECT TOP 5 name FROM customers", limit=50) == "SELECT TOP 5 name FROM customers"
    for sql in ("SELECT * INTO stolen FROM customers", "EXEC xp_cmdshell 'dir'", "DROP TABLE customers",
                "SELECT * FROM OPENROWSET('SQLNCLI', 'Server=x;', 'SELECT 1')", "SELECT 1; DELETE FROM customers",
                "WAITFOR DELAY '00:00:10'"):
        with pytest.raises(QueryRejected):
            c.validate_select(sql, limit=10)
    # The engine is built with the real driver's dialect (no connection is attempted).
    assert c.engine().dialect.driver == "pymssql"
