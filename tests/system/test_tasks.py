"""The task contract (docs/api-compatibility.md, "Asynchronous tasks"), through a real worker."""
import uuid

import redis

from tests.conftest import poll_task


def test_roundtrip_task_through_real_worker(http, super_admin_token, celery_worker):
    auth = {"Authorization": f"Bearer {super_admin_token}"}
    resp = http.post("/api/v1/system/task-check", headers=auth)
    assert resp.status_code == 202
    ack = resp.json()
    assert set(ack) == {"status", "task_id", "status_url", "message", "estimated_time"}
    assert ack["status"] == "accepted"
    assert ack["status_url"] == f"/api/v1/tasks/{ack['task_id']}/status"

    body = poll_task(http, ack["status_url"])  # no credentials: the CLI polls without them
    assert body["status"] == "completed" and body["state"] == "SUCCESS"
    assert body["result"]["message"] == "pong"
    assert body["message"] == "pong"  # result keys are spread to the top level
    assert body["task_id"] == ack["task_id"]
    assert "error" not in body and "errors" not in body


def test_sdk_resolves_a_task(sdk_factory, http, super_admin_token, celery_worker):
    auth = {"Authorization": f"Bearer {super_admin_token}"}
    ack = http.post("/api/v1/system/task-check", headers=auth).json()
    result = sdk_factory().resolve_async_task(ack)
    assert result["message"] == "pong"


def test_in_flight_body_has_no_error_keys(app):
    from knowrithm.infra.tasks import TaskRecord, status_body

    body = status_body(TaskRecord(id=uuid.uuid4(), name="x", state="PENDING"))
    assert body["status"] == "pending" and body["state"] == "PENDING"
    assert "error" not in body and "errors" not in body
    body = status_body(TaskRecord(id=uuid.uuid4(), name="x", state="PROGRESS", progress=40))
    assert body["status"] == "processing" and body["progress"] == 40


def test_failed_task_is_recorded_and_dead_lettered(app, http, celery_worker, settings):
    from knowrithm.infra.db import db
    from knowrithm.infra.tasks import enqueue
    from tests.conftest import always_fails

    broker = redis.Redis.from_url(settings.redis_url)
    before = broker.llen("dead_letter")
    with app.app_context():
        record = enqueue(always_fails)
        task_id = str(record.id)
        db.session.remove()
    body = poll_task(http, f"/api/v1/tasks/{task_id}/status")
    assert body["status"] == "failed" and body["state"] == "FAILURE"
    assert "boom" in body["error"] and body["message"] == body["error"]
    assert isinstance(body["error"], str)
    assert broker.llen("dead_letter") == before + 1
    with app.app_context():
        from knowrithm.infra.tasks import TaskRecord

        row = db.session.get(TaskRecord, uuid.UUID(task_id))
        assert row.dead_lettered and row.retries == 1


def test_unknown_task_is_a_404_envelope(http):
    for task_id in (str(uuid.uuid4()), "not-a-uuid"):
        resp = http.get(f"/api/v1/tasks/{task_id}/status")
        assert resp.status_code == 404
        body = resp.json()
        assert body["code"] == "TASK_NOT_FOUND" and body["error"] == body["message"]


def test_worker_settings_bound_prefetch_and_task_time(app):
    conf = app.extensions["celery"].conf
    assert conf.worker_prefetch_multiplier == 1 and conf.task_acks_late and conf.task_reject_on_worker_lost
    assert 0 < conf.task_soft_time_limit < conf.task_time_limit
    from knowrithm.domains.documents.tasks import process_document

    task = app.extensions["celery"].tasks[process_document.name]
    assert 0 < task.soft_time_limit < task.time_limit  # long tasks carry longer limits of their own
