"""Workers sharing queues on a Redis broker: the task of a worker that dies is run by another.

Tasks are acknowledged late and rejected when their worker is lost, so a message a dead worker had
taken stays in the broker's `unacked` set; Redis gives it back after the visibility timeout. That
timeout must exceed every late-acknowledged task's hard time limit, or a long task still running
would be delivered a second time (`infra.tasks.check_visibility_timeout`, logged at worker start).

The behaviour test runs two real worker processes of the platform on their own Redis database with
a short visibility timeout (15 s; the task holds its worker 8 s, less than that, as every real
task's limit is less than the real timeout) and SIGKILLs the one running the task (master and pool,
as a crashed node): the other runs it once after the timeout, and nothing is left in the broker.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis

from tests.conftest import _claim_redis_db
from tests.processes import stop_groups

VISIBILITY = 15
HOLD = 8


def test_the_visibility_timeout_exceeds_every_late_acknowledged_tasks_time_limit(app):
    import knowrithm.worker  # noqa: F401  (registers every task module, as a worker does)
    from knowrithm.infra.tasks import check_visibility_timeout

    celery = app.extensions["celery"]
    conf = celery.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost and conf.worker_prefetch_multiplier == 1
    visibility = conf.broker_transport_options["visibility_timeout"]
    assert visibility == app.config["SETTINGS"].CELERY_VISIBILITY_TIMEOUT == 4200
    assert check_visibility_timeout(celery) == []
    # The check sees the long tasks: at an hour (the former setting) the crawls, index builds and
    # re-embeddings, whose hard limits are 3,700 s, would be delivered twice.
    conf.broker_transport_options = {**conf.broker_transport_options, "visibility_timeout": 3600}
    try:
        flagged = check_visibility_timeout(celery)
    finally:
        conf.broker_transport_options = {**conf.broker_transport_options, "visibility_timeout": visibility}
    assert {"knowrithm.websites.crawl_source (time limit 3700 s)",
            "knowrithm.documents.reembed_agent (time limit 3700 s)",
            "knowrithm.maintenance.build_vector_index (time limit 3700 s)"} <= set(flagged), flagged


def _worker(name: str, env: dict, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen([str(Path(sys.executable).parent / "celery"), "-A", "knowrithm.worker", "worker",
                                 "-Q", "default", "--concurrency", "1", "--without-mingle", "--without-gossip",
                                 "--loglevel", "INFO", "-n", f"{name}@redelivery"],
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _wait(check, what: str, timeout: float, procs=()):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        for p in procs:
            assert p.poll() is None, f"a worker exited ({p.returncode}) while waiting for {what}"
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _record(app, task_id):
    from knowrithm.infra.db import db
    from knowrithm.infra.tasks import TaskRecord

    with app.app_context():
        row = db.session.get(TaskRecord, task_id)
        out = (row.state, row.result, row.started_at) if row else None
        db.session.remove()
    return out


LONG_VISIBILITY = 3600  # as in production: the timeout itself would take an hour


@pytest.fixture
def broker_env(request, app, settings, tmp_path):
    """(broker URL, client, worker environment) on a Redis database of its own; `request.param`
    overrides settings of the workers (the production visibility timeout by default)."""
    base = settings.redis_url.rsplit("/", 1)[0]
    n, lock = _claim_redis_db(base)
    broker_url = f"{base}/{n}"
    broker = redis.Redis.from_url(broker_url)
    broker.flushdb()
    env = {**os.environ, "SQLALCHEMY_DATABASE_URI": settings.SQLALCHEMY_DATABASE_URI, "REDIS_URL": broker_url,
           "SECRET_KEY": settings.SECRET_KEY, "JWT_SECRET_KEY": settings.JWT_SECRET_KEY,
           "UPLOAD_FOLDER": str(tmp_path / "uploads"), "LOG_LEVEL": "INFO",
           "CELERY_VISIBILITY_TIMEOUT": str(LONG_VISIBILITY), **getattr(request, "param", {})}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    yield broker_url, broker, env
    broker.flushdb()
    lock.delete(f"knowrithm-test-db-lock:{n}")


@pytest.mark.timeout(300)
@pytest.mark.parametrize("broker_env", [{"CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY), "CELERY_RESTORE_INTERVAL": "1"}],
                         indirect=True)
def test_a_killed_workers_task_is_redelivered_to_the_other_worker(app, broker_env, tmp_path):
    from celery import Celery

    from knowrithm.infra.db import db
    from knowrithm.infra.tasks import TaskRecord

    broker_url, broker, env = broker_env
    task_id = uuid.uuid4()
    with app.app_context():
        db.session.add(TaskRecord(id=task_id, name="knowrithm.system.roundtrip", queue="default"))
        db.session.commit()
        db.session.remove()
    procs: list[subprocess.Popen] = []
    logs = {name: tmp_path / f"{name}.log" for name in ("one", "two")}
    try:
        for name, log in logs.items():
            procs.append(_worker(name, env, log))
        for log in logs.values():
            _wait(lambda: b"ready" in log.read_bytes(), f"worker {log.stem}", 120, procs)
        producer = Celery(broker=broker_url)
        producer.send_task("knowrithm.system.roundtrip", kwargs={"payload": "once", "hold_seconds": HOLD},
                           task_id=str(task_id), queue="default", exchange="knowrithm", routing_key="default")
        _wait(lambda: (_record(app, task_id) or ("",))[0] == "STARTED", "a worker to start the task", 60, procs)
        received = f"knowrithm.system.roundtrip[{task_id}] received".encode()
        holder = next(name for name, log in logs.items() if received in log.read_bytes())
        first, survivor = (procs[0], "two") if holder == "one" else (procs[1], "one")
        assert broker.hlen("unacked") == 1  # held by that worker, not acknowledged yet

        os.killpg(first.pid, signal.SIGKILL)  # the node dies mid-task: master and pool child
        first.wait(10)
        killed_at = time.time()
        state, result, _ = _wait(lambda: (r := _record(app, task_id)) and r[0] == "SUCCESS" and r, "redelivery",
                                 VISIBILITY + HOLD + 60, [p for p in procs if p is not first])
        took = time.time() - killed_at
        assert result["node"] == f"{survivor}@redelivery" and result["message"] == "once"
        print(f"\nredelivered after the visibility timeout and finished {took:.1f} s after the kill")
        # Exactly once: no copy left queued or held, and none comes back after another timeout.
        time.sleep(VISIBILITY + 2)
        assert broker.llen("default") == 0 and broker.hlen("unacked") == 0
        assert logs[survivor].read_bytes().count(received) == 1
    finally:
        stop_groups(procs)


def _send_held_task(app, broker_url) -> uuid.UUID:
    from celery import Celery

    from knowrithm.infra.db import db
    from knowrithm.infra.tasks import TaskRecord

    task_id = uuid.uuid4()
    with app.app_context():
        db.session.add(TaskRecord(id=task_id, name="knowrithm.system.roundtrip", queue="default"))
        db.session.commit()
        db.session.remove()
    Celery(broker=broker_url).send_task("knowrithm.system.roundtrip", kwargs={"payload": "once", "hold_seconds": HOLD},
                                        task_id=str(task_id), queue="default", exchange="knowrithm",
                                        routing_key="default")
    return task_id


@pytest.mark.timeout(300)
def test_a_worker_restarted_in_place_takes_back_what_it_held_at_once(app, broker_env, tmp_path):
    """A container or pod restarted in place keeps its node name: its previous life's message
    comes back when it starts, not after the hour-long visibility timeout."""
    from knowrithm.infra.redelivery import INFLIGHT_PREFIX

    broker_url, broker, env = broker_env
    log = tmp_path / "solo.log"
    procs = [_worker("solo", env, log)]
    try:
        _wait(lambda: b"ready" in log.read_bytes(), "the worker", 120, procs)
        task_id = _send_held_task(app, broker_url)
        _wait(lambda: (_record(app, task_id) or ("",))[0] == "STARTED", "the task to start", 60, procs)
        assert broker.hlen("unacked") == 1 and broker.hlen(INFLIGHT_PREFIX + "solo@redelivery") == 1
        os.killpg(procs[0].pid, signal.SIGKILL)
        procs[0].wait(10)
        killed_at = time.time()
        procs.append(_worker("solo", env, log))
        state, result, _ = _wait(lambda: (r := _record(app, task_id)) and r[0] == "SUCCESS" and r, "the task",
                                 120, procs[1:])
        took = time.time() - killed_at
        assert took < 60 < LONG_VISIBILITY and result["node"] == "solo@redelivery", took
        print(f"\nrestarted in place: finished {took:.1f} s after the kill (visibility timeout {LONG_VISIBILITY} s)")
        _wait(lambda: broker.hlen("unacked") == 0 and broker.llen("default") == 0, "nothing held", 20, procs[1:])
        assert log.read_bytes().count(b"requeued 1 message(s) held by stopped worker solo@redelivery") == 1
    finally:
        stop_groups(procs)


@pytest.mark.timeout(300)
def test_what_a_vanished_worker_held_goes_to_another_before_the_timeout(app, broker_env, tmp_path):
    """A node that is gone for good (a pod rescheduled under a new name): the sweep beat runs
    every minute gives its message to a live worker; a live worker's messages are never touched."""
    from knowrithm.infra.redelivery import INFLIGHT_PREFIX, requeue_orphans

    broker_url, broker, env = broker_env
    logs = {name: tmp_path / f"{name}.log" for name in ("one", "two")}
    procs = [_worker(name, env, log) for name, log in logs.items()]
    try:
        for log in logs.values():
            _wait(lambda log=log: b"ready" in log.read_bytes(), f"worker {log.stem}", 120, procs)
        task_id = _send_held_task(app, broker_url)
        _wait(lambda: (_record(app, task_id) or ("",))[0] == "STARTED", "the task to start", 60, procs)
        holder = next(n for n in logs if broker.hlen(INFLIGHT_PREFIX + f"{n}@redelivery") == 1)
        survivor = "two" if holder == "one" else "one"
        # While both live, the sweep gives nothing back.
        both = {f"{n}@redelivery" for n in logs}
        assert requeue_orphans(broker_url, broker, live=both, noted_before=time.time() + 1) == {}
        victim = procs[0] if holder == "one" else procs[1]
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(10)
        killed_at = time.time()
        assert requeue_orphans(broker_url, broker, live={f"{survivor}@redelivery"},
                               noted_before=time.time() + 1) == {f"{holder}@redelivery": 1}
        state, result, _ = _wait(lambda: (r := _record(app, task_id)) and r[0] == "SUCCESS" and r, "the task",
                                 120, [p for p in procs if p is not victim])
        assert result["node"] == f"{survivor}@redelivery" and time.time() - killed_at < 60
        _wait(lambda: broker.hlen("unacked") == 0 and broker.llen("default") == 0, "nothing held", 20,
              [p for p in procs if p is not victim])
        assert broker.exists(INFLIGHT_PREFIX + f"{holder}@redelivery") == 0
    finally:
        stop_groups(procs)
