"""`knowrithm tasks dead-letter list|replay` against the real broker: a task that failed for good
is listed (and stays queued), and a replayed one runs again under its task id and completes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import redis

from tests.conftest import poll_task


def cli(settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SQLALCHEMY_DATABASE_URI": settings.SQLALCHEMY_DATABASE_URI, "REDIS_URL": settings.REDIS_URL,
           "SECRET_KEY": settings.SECRET_KEY, "JWT_SECRET_KEY": settings.JWT_SECRET_KEY, "LOG_JSON": "false",
           "LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "-m", "knowrithm.cli", "tasks", "dead-letter", *args], env=env,
                          capture_output=True, text=True, timeout=180)


def test_dead_letters_are_listed_and_replayed(app, http, celery_worker, settings):
    from knowrithm.domains.system.tasks import roundtrip
    from knowrithm.infra.db import db
    from knowrithm.infra.tasks import TaskRecord, enqueue
    from tests.conftest import always_fails

    broker = redis.Redis.from_url(settings.redis_url)
    broker.delete("dead_letter")
    with app.app_context():
        failed_id = str(enqueue(always_fails).id)
        db.session.remove()
    assert poll_task(http, f"/api/v1/tasks/{failed_id}/status")["status"] == "failed"

    # A round trip that failed once (as `on_failure` records it), and whose cause is now fixed.
    celery = app.extensions["celery"]
    with app.app_context():
        record = TaskRecord(id=uuid.uuid4(), name=roundtrip.name, queue="default", state="FAILURE",
                            error="database was down", dead_lettered=True)
        db.session.add(record)
        db.session.commit()
        fixed_id = str(record.id)
        db.session.remove()
    celery.send_task("knowrithm.dead_letter", queue="dead_letter", kwargs={
        "task_id": fixed_id, "task_name": roundtrip.name, "kwargs": {"payload": "ping"}, "error": "database was down",
        "traceback": ""})

    listed = cli(settings, "list", "--json")
    assert listed.returncode == 0, listed.stderr[-3000:]
    letters = {letter["task_id"]: letter for letter in json.loads(listed.stdout)}
    assert set(letters) == {failed_id, fixed_id}
    assert letters[failed_id]["task_name"] == "knowrithm.tests.always_fails" and "boom" in letters[failed_id]["error"]
    assert letters[fixed_id]["kwargs"] == {"payload": "ping"}
    assert broker.llen("dead_letter") == 2  # listing takes nothing away

    table = cli(settings, "list")
    assert table.returncode == 0 and "2 dead-lettered task(s)" in table.stdout and fixed_id in table.stdout

    assert cli(settings, "replay").returncode != 0  # neither ids nor --all: a usage error
    missing = str(uuid.uuid4())
    replayed = cli(settings, "replay", fixed_id, missing)
    assert f"replayed {fixed_id}" in replayed.stdout, replayed.stderr[-3000:]
    assert f"not in the dead-letter queue: {missing}" in replayed.stderr and replayed.returncode == 1
    body = poll_task(http, f"/api/v1/tasks/{fixed_id}/status", timeout=60)
    assert body["status"] == "completed" and body["result"]["message"] == "pong", body

    left = json.loads(cli(settings, "list", "--json").stdout)
    assert [letter["task_id"] for letter in left] == [failed_id]  # the other one stays for later
    broker.delete("dead_letter")
