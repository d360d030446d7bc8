"""The answer task's record: the engine writes STARTED and SUCCESS itself, and a redelivered task
returns the existing reply instead of answering twice."""
import uuid

from tests.widget.helpers import make_agent


def test_task_record_and_redelivery(app, companies, sdk_a, celery_worker):
    from knowrithm.domains.conversations import engine
    from knowrithm.domains.conversations.models import Message
    from knowrithm.infra.db import db
    from knowrithm.infra.tasks import TaskRecord
    from knowrithm.infra.tenancy import company_scope

    agent_id = make_agent(app, companies[0])
    conv_id = sdk_a.conversations.create_conversation(str(agent_id))["id"]
    ack = sdk_a._make_request("POST", f"/conversation/{conv_id}/chat", data={"message": "Do you ship abroad?"})
    result = sdk_a.resolve_async_task(ack)

    with app.app_context(), company_scope(companies[0].company_id):
        record = db.session.get(TaskRecord, uuid.UUID(ack["task_id"]))
        assert record.state == "SUCCESS" and record.started_at and record.finished_at >= record.started_at
        assert record.result["assistant_message_id"] == result["assistant_message_id"]
        db.session.remove()

        again = engine.answer(conversation_id=conv_id, message_id=ack["message_id"], task_id=ack["task_id"],
                              acknowledged_ms=0)
        assert again["assistant_message_id"] == result["assistant_message_id"]
        replies = db.session.query(Message).filter(Message.reply_to_id == uuid.UUID(ack["message_id"])).count()
        assert replies == 1
        db.session.remove()
    assert sdk_a.conversations.list_conversations()["conversations"][0]["message_count"] == 2
