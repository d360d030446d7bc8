"""Databases as live knowledge in chat: the shop on real PostgreSQL 15, MariaDB and SQLite answers
"how many orders did Dana place last month?" and "which product sold most in March?" with the right
figures and the query cited; documents and databases answer together; a real model's SQL (a local
OpenAI-compatible server returning scripted tool calls) is validated, repaired once on a database
error, and refused when malicious, with the target database unchanged."""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone

import pytest

from tests.databases.conftest import checksum
from tests.databases.shop import PRODUCTS, anchors, orders
from tests.integrations.protocol_servers import API_KEY, AnthropicServer, OpenAIServer
from tests.widget.helpers import make_agent

ENGINES = {"postgres": "shop_postgres", "mysql": "shop_mysql", "sqlite": "shop_sqlite"}


def _expected():
    """(Dana's orders last month, March's best-selling product), computed from the rows themselves."""
    a = anchors(datetime.now(timezone.utc).date())
    dana_last_month = sum(1 for _, cid, day, _, _ in orders(a["this_month"]) if cid == 1
                          and a["last_month"] <= day < a["this_month"])
    march = Counter()
    for _, _, day, _, lines in orders(a["this_month"]):
        if day.month == 3 and day.year == a["march"].year:
            for pid, qty in lines:
                march[pid] += qty
    best = dict((p[0], p[1]) for p in PRODUCTS)[march.most_common(1)[0][0]]
    return dana_last_month, best


def _connect(sdk, agent_id, url, engine):
    conn = sdk.databases.create_connection("shop", url, engine, str(agent_id))["connection"]
    sdk.databases.analyze_connection(conn["id"])
    return conn


def _database_source(reply):
    return next(s for s in reply["sources"] if s.get("type") == "database")


@pytest.mark.parametrize("engine", list(ENGINES))
def test_chat_answers_from_the_shop_database(request, engine, app, companies, sdk_a, celery_worker):
    url = request.getfixturevalue(ENGINES[engine])
    agent_id = make_agent(app, companies[0], name="Shop helper")
    conn = _connect(sdk_a, agent_id, url, engine)
    conv_id = sdk_a.conversations.create_conversation(str(agent_id))["id"]
    dana, best = _expected()

    reply = sdk_a.messages.send_message(conv_id, "How many orders did Dana place last month?")
    assert reply["answered"] is True and f"count = {dana}" in reply["content"], reply["content"]
    source = _database_source(reply)
    assert source["cited"] is True and source["connection_name"] == "shop" and source["connection_id"] == conn["id"]
    assert "Dana" in source["sql"] and source["generator"] == "rules" and source["row_count"] == 1
    assert f"[Source {source['source_number']}]" in reply["content"]

    reply = sdk_a.messages.send_message(conv_id, "Which product sold most in March?")
    assert best in reply["content"] and _database_source(reply)["cited"] is True
    # The stored message carries the same sources (the widget and the API show the SQL under them).
    stored = sdk_a.conversations.list_conversation_messages(conv_id)["messages"][-1]
    assert stored["sources"] == reply["sources"] and "GROUP BY" in _database_source(stored)["sql"]
    assert stored["metadata"]["database_queries"][0]["connection_name"] == "shop"

    # A question about something else does not query the database.
    reply = sdk_a.messages.send_message(conv_id, "Hello there")
    assert reply["metadata"]["database_queries"] == [] and reply["sources"] == []


def test_stream_shows_querying_the_database(app, companies, sdk_a, shop_sqlite, celery_worker):
    agent_id = make_agent(app, companies[0])
    _connect(sdk_a, agent_id, shop_sqlite, "sqlite")
    conv_id = sdk_a.conversations.create_conversation(str(agent_id))["id"]
    stream = sdk_a.messages.send_message(conv_id, "How many customers are in the USA?", stream=True,
                                         stream_timeout=60)
    events = []
    for event in stream:
        events.append(event)
        if event.event == "chat_response":
            break
    stream.close()
    stages = [e.data.get("stage") for e in events if e.event == "chat_status"]
    assert "querying_database" in stages
    querying = next(e.data for e in events if e.event == "chat_status" and e.data.get("stage") == "querying_database")
    assert querying["status"] == "in_progress" and querying["detail"] == "Querying the database"
    assert "count = 2" in events[-1].data["message"]["content"]


def test_document_and_database_answer_together(app, companies, sdk_a, shop_postgres, celery_worker, tmp_path):
    from tests.documents.conftest import wait_documents

    agent_id = make_agent(app, companies[0])
    doc = tmp_path / "dana.md"
    doc.write_text("# Key accounts\n\nThe orders Dana placed last month ship from our Lisbon warehouse.\n")
    uploaded = sdk_a.documents.upload_documents(str(agent_id), file_paths=[doc])
    wait_documents(sdk_a, [d["id"] for d in uploaded["documents"]])
    _connect(sdk_a, agent_id, shop_postgres, "postgres")
    conv_id = sdk_a.conversations.create_conversation(str(agent_id))["id"]
    reply = sdk_a.messages.send_message(conv_id, "How many orders did Dana place last month, and where do her "
                                                 "orders ship from?")
    cited = {s["type"] for s in reply["sources"] if s["cited"]}
    assert cited == {"document", "database"}, reply["sources"]
    assert "Lisbon" in reply["content"] and f"count = {_expected()[0]}" in reply["content"]


class ScriptedSQLServer(OpenAIServer):
    """An OpenAI-compatible server: requests offering tools get the next scripted tool call; the
    final answer (no tools) is `reply`."""

    def __init__(self, script: list[str | None], **kwargs):
        super().__init__(**kwargs)
        self.script = list(script)

    def chat(self, request, body, model):
        if not body.get("tools"):
            return super().chat(request, body, model)
        sql = self.script.pop(0) if self.script else None
        message = {"role": "assistant", "content": None if sql else "No database needed."}
        if sql:
            message["tool_calls"] = [{"id": "call_1", "type": "function", "function": {
                "name": "query_database", "arguments": json.dumps({"connection": "shop", "sql": sql})}}]
        return self.json({"id": "chatcmpl-x", "object": "chat.completion", "created": 0, "model": model,
                          "choices": [{"index": 0, "message": message,
                                       "finish_reason": "tool_calls" if sql else "stop"}],
                          "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})


def _llm_agent(app, companies, sdk_a, server):
    agent_id = make_agent(app, companies[0])
    sdk_a.settings.create_settings_with_provider_names(
        "ollama", "llama3.1", "knowrithm", "all-MiniLM-L6-v2", agent_id=str(agent_id), llm_api_base_url=server.base_url,
        llm_api_key=API_KEY)
    return agent_id


def test_model_sql_through_tool_calling_with_one_repair(app, companies, sdk_a, shop_postgres, celery_worker):
    script = ["SELECT COUNT(*) AS n FROM order WHERE customer = 'Dana'",  # wrong: the database says why
              "SELECT COUNT(*) AS n FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.name = 'Dana'"]
    with ScriptedSQLServer(script, reply="Dana placed 4 orders [Source 1].") as server:
        agent_id = _llm_agent(app, companies, sdk_a, server)
        _connect(sdk_a, agent_id, shop_postgres, "postgres")
        conv_id = sdk_a.conversations.create_conversation(str(agent_id))["id"]
        reply = sdk_a.messages.send_message(conv_id, "How many orders has Dana placed?")
        tool_calls = [c for c in server.calls("/chat/completions") if c["json"].get("tools")]
        final = [c for c in server.calls("/chat/completions") if not c["json"].get("tools")][-1]
    assert len(tool_calls) == 2  # the first SQL failed on the database, the model repaired it once
    spec = tool_calls[0]["json"]["tools"][0]["function"]
    assert spec["name"] == "query_database" and "order_lines(" in spec["description"]
    # The prompt is the snapshot (keys, joins, analysed values) plus the connection's sample queries.
    assert "id INTEGER PK" in spec["description"] and "join: customer_id -> customers(id)" in spec["description"]
    assert "Example queries:" in spec["description"] and "SELECT COUNT(*) AS count FROM" in spec["description"]
    assert "database returned an error" in json.dumps(tool_calls[1]["json"]["messages"])
    source = _database_source(reply)
    assert source["generator"] == "llm" and "JOIN" in source["sql"] and source["cited"] is True
    # The model wrote the final answer from the rows it was given.
    assert "n = 4" in json.dumps(final["json"]["messages"]) and reply["content"] == "Dana placed 4 orders [Source 1]."


REFUSED = [
    "DROP TABLE orders",
    "UPDATE orders SET total = 0",
    "INSERT INTO customers VALUES (99, 'Eve', 'eve@example.com', 'X')",
    "COPY customers TO '/tmp/customers.csv'",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT pg_sleep(30)",
    "SELECT * INTO stolen FROM customers",
    "SELECT 1; DROP TABLE orders",
    "SELECT name FROM customers /* harmless */; DELETE FROM orders",
    "WITH gone AS (DELETE FROM orders RETURNING *) SELECT * FROM gone",
]


def test_malicious_model_sql_is_refused_and_changes_nothing(app, companies, sdk_a, shop_postgres, celery_worker):
    before = checksum(shop_postgres)
    with ScriptedSQLServer(list(REFUSED), reply="I could not query that.") as server:
        agent_id = _llm_agent(app, companies, sdk_a, server)
        _connect(sdk_a, agent_id, shop_postgres, "postgres")
        conv_id = sdk_a.conversations.create_conversation(str(agent_id))["id"]
        for sql in REFUSED:
            reply = sdk_a.messages.send_message(conv_id, "Tell me about the orders")
            query = reply["metadata"]["database_queries"][0]
            assert query["refused"] is True and query["error"], sql
            assert not any(s.get("type") == "database" for s in reply["sources"])
            assert checksum(shop_postgres) == before, sql
        tool_calls = [c for c in server.calls("/chat/completions") if c["json"].get("tools")]
    assert len(tool_calls) == len(REFUSED)  # a refusal is final: no repair round


@pytest.mark.parametrize("engine", list(ENGINES))
def test_raw_sql_refusals_timeout_and_row_cap(request, engine, sdk_a, agent_ids, settings):
    """The same refusals through `analytics.search_database`, on every engine, plus a cartesian
    blow-up cut by the row cap (listing) or the timeout (aggregate)."""
    url = request.getfixturevalue(ENGINES[engine])
    conn = sdk_a.databases.create_connection("shop", url, engine, agent_ids[0])["connection"]
    before = checksum(url)
    attempts = REFUSED + ["SELECT load_extension('/tmp/x.so')", "SELECT SLEEP(30)",
                          "SELECT LOAD_FILE('/etc/passwd')", "ATTACH DATABASE '/tmp/x.db' AS x"]
    for sql in attempts:
        found = sdk_a.analytics.search_database(sql, connection_id=conn["id"])
        assert "error" in found["results"]["shop"], (engine, sql)
        assert checksum(url) == before, (engine, sql)
    blowup = "SELECT a.id, b.id, c.id, d.id FROM order_lines a, order_lines b, order_lines c, order_lines d"
    found = sdk_a.analytics.search_database(blowup, connection_id=conn["id"])
    assert len(found["results"]["shop"]) == 100  # the row cap
    old = settings.DATABASE_QUERY_TIMEOUT_SECONDS
    settings.DATABASE_QUERY_TIMEOUT_SECONDS = 1
    try:
        heavy = ("SELECT COUNT(*) FROM order_lines a, order_lines b, order_lines c, order_lines d, order_lines e, "
                 "order_lines f, order_lines g")
        found = sdk_a.analytics.search_database(heavy, connection_id=conn["id"])
    finally:
        settings.DATABASE_QUERY_TIMEOUT_SECONDS = old
    result = found["results"]["shop"]
    # 15^7 = 170M row combinations: cut by the timeout (statement_timeout, max_statement_time, SQLite's
    # progress handler).
    assert "error" in result, result
    assert any(w in result["error"].lower() for w in ("interrupt", "timeout", "max_statement_time", "cancel")), result
    assert checksum(url) == before


class ScriptedAnthropic(AnthropicServer):
    """Anthropic's Messages API (no tool calling here): each request gets the next scripted reply."""

    def __init__(self, replies: list[str], **kwargs):
        super().__init__(**kwargs)
        self.replies = list(replies)

    def messages(self, request, body, model):
        if self.replies:
            self.reply = self.replies.pop(0)
        return super().messages(request, body, model)


WRONG_SQL = "SELECT COUNT(*) AS n FROM order WHERE customer = 'Dana'"
RIGHT_SQL = "SELECT COUNT(*) AS n FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.name = 'Dana'"


def _anthropic_agent(app, companies, sdk_a, server):
    agent_id = make_agent(app, companies[0])
    sdk_a.settings.create_settings_with_provider_names(
        "anthropic", "claude-sonnet-4-5", "knowrithm", "all-MiniLM-L6-v2", agent_id=str(agent_id),
        llm_api_base_url=server.base_url, llm_api_key=API_KEY)
    return agent_id


def test_model_sql_without_tool_calling_is_repaired_once_in_chat(app, companies, sdk_a, shop_postgres, celery_worker):
    """Models without tool calling (Anthropic, Gemini) write the SQL from the prompt; a database
    error goes back to the model once, and the answer comes from the rows."""
    script = [f"```sql\n{WRONG_SQL}\n```", RIGHT_SQL, "Dana placed 4 orders [Source 1]."]
    with ScriptedAnthropic(script) as server:
        agent_id = _anthropic_agent(app, companies, sdk_a, server)
        _connect(sdk_a, agent_id, shop_postgres, "postgres")
        conv_id = sdk_a.conversations.create_conversation(str(agent_id))["id"]
        reply = sdk_a.messages.send_message(conv_id, "How many orders has Dana placed?")
        calls = [c["json"] for c in server.calls("/v1/messages")]
    assert len(calls) == 3  # the SQL, its one repair, the answer
    assert "join: customer_id -> customers(id)" in calls[0]["system"] and "Example queries:" in calls[0]["system"]
    assert "The database refused that query" in json.dumps(calls[1]["messages"])
    source = _database_source(reply)
    assert source["generator"] == "llm" and "JOIN" in source["sql"] and source["cited"] is True
    assert "n = 4" in json.dumps(calls[2]) and reply["content"] == "Dana placed 4 orders [Source 1]."


def test_text_to_sql_route_repairs_once_and_never_repairs_a_refusal(app, companies, sdk_a, shop_postgres):
    from knowrithm_py.dataclass.error import KnowrithmAPIError

    with ScriptedAnthropic([WRONG_SQL, RIGHT_SQL]) as server:
        agent_id = _anthropic_agent(app, companies, sdk_a, server)
        conn_id = _connect(sdk_a, agent_id, shop_postgres, "postgres")["id"]
        answer = sdk_a.databases.text_to_sql(conn_id, "How many orders has Dana placed?")
        assert len(server.calls("/v1/messages")) == 2
    assert answer["generator"] == "llm" and answer["results"] == [{"n": 4}] and "repaired once" in answer["explanation"]

    before = checksum(shop_postgres)
    with ScriptedAnthropic(["DELETE FROM orders", RIGHT_SQL]) as server:
        sdk_a.settings.create_settings_with_provider_names(
            "anthropic", "claude-sonnet-4-5", "knowrithm", "all-MiniLM-L6-v2", agent_id=str(agent_id),
            llm_api_base_url=server.base_url, llm_api_key=API_KEY)
        with pytest.raises(KnowrithmAPIError) as err:
            sdk_a.databases.text_to_sql(conn_id, "Remove every order")
        assert len(server.calls("/v1/messages")) == 1  # a refused statement is not handed back to rephrase
    assert err.value.status_code == 400 and "QUERY_REJECTED" in str(err.value.response_data)
    assert checksum(shop_postgres) == before
