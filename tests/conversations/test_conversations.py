"""Conversations and messages through knowrithm-py."""
import uuid

import pytest
from knowrithm_py.dataclass.error import KnowrithmAPIError

from tests.widget.helpers import add_messages, make_agent


def _status(call) -> int:
    with pytest.raises(KnowrithmAPIError) as err:
        call()
    return err.value.status_code


def test_create_is_synchronous_and_mirrors_the_id(app, companies, sdk_a):
    agent_id = make_agent(app, companies[0])
    created = sdk_a.conversations.create_conversation(str(agent_id), title="Billing", metadata={"k": "v"},
                                                      max_context_length=2000)
    conv = created["conversation"]
    assert created["id"] == conv["id"] and "task_id" not in created
    assert conv["agent_id"] == str(agent_id) and conv["title"] == "Billing" and conv["status"] == "active"
    assert conv["entity_type"] == "user" and conv["entity_id"] == str(companies[0].admin_id)
    assert conv["metadata"] == {"k": "v"} and conv["max_context_length"] == 2000 and conv["message_count"] == 0
    default = sdk_a.conversations.create_conversation(str(agent_id))["conversation"]
    assert default["title"] == "New Conversation" and default["max_context_length"] == 4000


def test_create_bad_input(app, companies, sdk_a, sdk_b):
    agent_id = make_agent(app, companies[0])
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.conversations.create_conversation(str(agent_id), max_context_length=10)
    assert err.value.status_code == 400 and "max_context_length" in err.value.response_data["details"]
    assert _status(lambda: sdk_a.conversations.create_conversation("not-a-uuid")) == 404
    # Another company's agent does not exist for B.
    assert _status(lambda: sdk_b.conversations.create_conversation(str(agent_id))) == 404


def test_lists_and_filters(app, companies, sdk_a, sdk_b):
    agent_1 = make_agent(app, companies[0], name="One")
    agent_2 = make_agent(app, companies[0], name="Two")
    c1 = sdk_a.conversations.create_conversation(str(agent_1), title="Refund question")["id"]
    c2 = sdk_a.conversations.create_conversation(str(agent_2), title="Shipping")["id"]
    listed = sdk_a.conversations.list_conversations()
    assert {c["id"] for c in listed["conversations"]} == {c1, c2} and listed["data"] == listed["conversations"]
    assert listed["pagination"]["total"] == 2
    assert len(sdk_a.conversations.list_conversations(per_page=1)["conversations"]) == 1
    by_agent = sdk_a.conversations.list_conversations_by_agent(str(agent_1))
    assert [c["id"] for c in by_agent["conversations"]] == [c1]
    assert by_agent["conversations"][0]["agent"]["name"] == "One"
    mine = sdk_a.conversations.list_conversations_for_entity()
    assert {c["id"] for c in mine["conversations"]} == {c1, c2}
    by_entity = sdk_a.conversations.list_conversations_by_entity(str(companies[0].admin_id), entity_type="user")
    assert {c["id"] for c in by_entity["conversations"]} == {c1, c2}
    assert sdk_a.conversations.list_conversations_by_entity(str(companies[0].admin_id),
                                                            entity_type="lead")["conversations"] == []
    searched = sdk_a._make_request("GET", "/conversation", params={"search": "refund", "agent_id": str(agent_1)})
    assert [c["id"] for c in searched["conversations"]] == [c1]

    # Company B sees none of it.
    assert sdk_b.conversations.list_conversations()["conversations"] == []
    assert _status(lambda: sdk_b.conversations.list_conversations_by_agent(str(agent_1))) == 404
    assert sdk_b.conversations.list_conversations_by_entity(str(companies[0].admin_id))["conversations"] == []
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.conversations.list_conversations_by_agent(str(agent_1), status="bogus")
    assert err.value.status_code == 400


def test_messages_newest_page_first_oldest_first_inside(app, companies, sdk_a, sdk_b):
    agent_id = make_agent(app, companies[0])
    conv_id = sdk_a.conversations.create_conversation(str(agent_id))["id"]
    add_messages(app, conv_id, [f"m{i}" for i in range(7)])
    page1 = sdk_a.conversations.list_conversation_messages(conv_id, per_page=3)
    assert [m["content"] for m in page1["messages"]] == ["m4", "m5", "m6"]
    assert page1["pagination"]["total"] == 7 and page1["pagination"]["has_next"] is True
    page2 = sdk_a.conversations.list_conversation_messages(conv_id, page=2, per_page=3)
    assert [m["content"] for m in page2["messages"]] == ["m1", "m2", "m3"]
    assert [m["content"] for m in sdk_a.conversations.list_conversation_messages(conv_id)["messages"]] == \
        [f"m{i}" for i in range(7)]
    assert _status(lambda: sdk_b.conversations.list_conversation_messages(conv_id)) == 404
    with pytest.raises(KnowrithmAPIError) as err:
        sdk_a.conversations.list_conversation_messages(conv_id, per_page=0)
    assert err.value.status_code == 400


def test_soft_delete_and_restore(app, companies, sdk_a, sdk_b):
    agent_id = make_agent(app, companies[0])
    conv_id = sdk_a.conversations.create_conversation(str(agent_id))["id"]
    ids = add_messages(app, conv_id, ["a", "b", "c"])

    # A single message.
    assert _status(lambda: sdk_b.messages.delete_message(ids[0])) == 404
    assert sdk_a.messages.delete_message(ids[0])["message_id"] == ids[0]
    assert [m["id"] for m in sdk_a.messages.list_deleted_messages()["deleted_messages"]] == [ids[0]]
    assert sdk_b.messages.list_deleted_messages()["deleted_messages"] == []
    assert _status(lambda: sdk_b.messages.restore_message(ids[0])) == 404
    assert sdk_a.messages.restore_message(ids[0])["message_id"] == ids[0]
    assert len(sdk_a.conversations.list_conversation_messages(conv_id)["messages"]) == 3

    # All messages.
    assert _status(lambda: sdk_b.conversations.delete_conversation_messages(conv_id)) == 404
    assert sdk_a.conversations.delete_conversation_messages(conv_id)["deleted_messages_count"] == 3
    assert sdk_a.conversations.list_conversation_messages(conv_id)["messages"] == []
    assert _status(lambda: sdk_b.conversations.restore_all_messages(conv_id)) == 404
    assert sdk_a.conversations.restore_all_messages(conv_id)["restored_messages_count"] == 3

    # The conversation.
    assert _status(lambda: sdk_b.conversations.delete_conversation(conv_id)) == 404
    deleted = sdk_a.conversations.delete_conversation(conv_id)
    assert deleted["conversation_id"] == conv_id and deleted["deleted_messages_count"] == 3
    assert sdk_a.conversations.list_conversations()["conversations"] == []
    gone = sdk_a.conversations.list_deleted_conversations()
    assert [c["id"] for c in gone["deleted_conversations"]] == [conv_id] == [c["id"] for c in gone["conversations"]]
    assert gone["conversations"][0]["deleted_at"]
    assert sdk_b.conversations.list_deleted_conversations()["conversations"] == []
    assert _status(lambda: sdk_a.conversations.list_conversation_messages(conv_id)) == 404
    assert _status(lambda: sdk_a.messages.send_message(conv_id, "hello?")) == 404
    assert _status(lambda: sdk_b.conversations.restore_conversation(conv_id)) == 404
    restored = sdk_a.conversations.restore_conversation(conv_id)
    assert restored["conversation_id"] == conv_id
    assert len(sdk_a.conversations.list_conversation_messages(conv_id)["messages"]) == 3


def test_unknown_ids_are_404(sdk_a, companies):
    missing = str(uuid.uuid4())
    assert _status(lambda: sdk_a.conversations.list_conversation_messages(missing)) == 404
    assert _status(lambda: sdk_a.conversations.delete_conversation(missing)) == 404
    assert _status(lambda: sdk_a.messages.delete_message("nope")) == 404
