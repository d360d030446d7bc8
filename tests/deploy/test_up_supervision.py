"""`knowrithm up` supervises what it starts.

- a Celery worker killed with SIGKILL in the middle of an ingestion is restarted with backoff
  while the API keeps serving, and the document still ends `processed`, each chunk once;
- Ctrl-C with an event stream open: the stream gets a `retry:` hint and ends, and everything
  stops within the grace period (nothing has to be killed, nothing is left running);
- a component that keeps crashing stops the platform with its name and its last log lines.
"""
from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest
import requests

from tests.deploy import client_flow
from tests.test_cli_up import Up, processes_using, still_running

LONG_TEXT = "\n\n".join(f"Section {i}. The warranty clause number {i} covers part {i * 7} of the frame and "
                        f"explains how claim {i} is filed, reviewed and paid. " * 3 for i in range(900))


@pytest.fixture(autouse=True)
def clean_db():
    """These tests talk only to their own `knowrithm up`; the shared test database is not needed."""
    yield


def component_pid(up: Up, marker: str) -> int:
    """The pid of the supervised process whose command line contains `marker`."""
    for child in psutil.Process(up.proc.pid).children():
        try:
            if marker in " ".join(child.cmdline()):
                return child.pid
        except psutil.Error:
            pass
    raise AssertionError(f"no component with {marker!r}")


def wait_for(predicate, timeout: float, what: str, up: Up):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        if up.proc.poll() is not None:
            pytest.fail(f"`knowrithm up` exited while waiting for {what}:\n{up.output()[-4000:]}")
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}:\n{up.output()[-4000:]}")


def chunk_counts(data_dir: Path, doc_id: str) -> tuple[int, int]:
    """(chunks, distinct chunk indexes) of a document, read from `up`'s own PostgreSQL."""
    import psycopg

    pgdata = data_dir / "postgres"
    socket_dir = (pgdata / "postmaster.pid").read_text().splitlines()[4].strip()
    with psycopg.connect(dbname="knowrithm", user="postgres", host=socket_dir) as conn:
        return conn.execute("SELECT count(*), count(DISTINCT chunk_index) FROM document_chunks WHERE document_id = %s",
                            (doc_id,)).fetchone()


class Stream(threading.Thread):
    """An open SSE stream of a conversation, read until the server closes it."""

    def __init__(self, url: str, headers: dict):
        super().__init__(daemon=True)
        self.url, self.headers = url, headers
        self.lines: list[str] = []
        self.opened = threading.Event()
        self.closed_by_server = threading.Event()

    def run(self):
        with requests.get(self.url, headers=self.headers, stream=True, timeout=(10, 120)) as resp:
            assert resp.status_code == 200, resp.text
            for line in resp.iter_lines(decode_unicode=True):
                self.lines.append(line)
                self.opened.set()
        self.closed_by_server.set()


@pytest.mark.timeout(600)
def test_killed_worker_restarts_and_ctrl_c_ends_open_streams(tmp_path):
    data_dir = tmp_path / "data"
    up = Up(tmp_path, data_dir)
    procs: list[psutil.Process] = []
    try:
        up.wait_ready()
        procs = up.started_processes(data_dir)
        client = client_flow.register(up.url)
        agent_id = client_flow.create_agent(client)
        conv_id = client.conversations.create_conversation(agent_id)["id"]
        stream = Stream(f"{up.url}/api/v1/conversation/{conv_id}/messages/stream",
                        {"X-API-Key": client.api_key, "X-API-Secret": client.api_secret})
        stream.start()
        assert stream.opened.wait(60), "the event stream did not open"

        doc_id = client_flow.upload(client, agent_id, tmp_path / "warranty.md", LONG_TEXT)
        docs = lambda: client.documents.list_documents(per_page=100)["documents"]  # noqa: E731
        wait_for(lambda: any(d["id"] == doc_id and d["status"] == "processing" and (d.get("progress") or 0) >= 30
                             for d in docs()), 240, "the ingestion to be under way", up)
        victim = component_pid(up, "default,low,slow")
        os.kill(victim, signal.SIGKILL)  # the Celery master: its pool child dies with its group

        wait_for(lambda: "worker exited with code -9; restarting in 1 s" in up.output(), 60, "the crash report", up)
        # The rest keeps serving while the worker is down and restarting.
        assert requests.get(f"{up.url}/api/v1/agent", headers={"X-API-Key": client.api_key,
                                                              "X-API-Secret": client.api_secret},
                            timeout=30).status_code == 200
        wait_for(lambda: "restarting worker (restart 1)" in up.output(), 60, "the restart", up)
        new_pid = wait_for(lambda: component_pid(up, "default,low,slow"), 30, "the new worker", up)
        assert new_pid != victim
        assert not psutil.pid_exists(victim) or psutil.Process(victim).status() == psutil.STATUS_ZOMBIE

        doc = client_flow.wait_processed(client, doc_id)
        assert doc["status"] == "processed", doc
        rows, distinct = chunk_counts(data_dir, doc_id)
        assert rows == distinct == doc["chunk_count"] > 100  # each chunk once, none from the killed attempt
        assert (data_dir / "logs" / "worker.log").read_text().count("ready.") >= 2  # both runs logged

        # Ctrl-C with the stream still open: it is told to reconnect, then closed by the server.
        assert stream.is_alive() and not stream.closed_by_server.is_set()
        procs = up.started_processes(data_dir)
        assert up.stop() == 0, up.output()[-4000:]
        assert stream.closed_by_server.wait(10), "the server did not close the open stream"
        assert any(line.startswith("retry: ") for line in stream.lines[1:]), stream.lines
        assert '"status":"reconnect"' in "\n".join(stream.lines)
        assert "did not stop within" not in up.output()  # nothing had to be killed at the deadline
        assert "stopped." in up.output()
        assert not still_running(procs), [p.pid for p in still_running(procs)]
        assert not processes_using(data_dir)
    finally:
        up.kill_leftovers(procs)


@pytest.mark.timeout(400)
def test_a_component_that_keeps_crashing_stops_the_platform_with_its_log(tmp_path):
    data_dir = tmp_path / "data"
    up = Up(tmp_path, data_dir, extra=["--max-crashes", "2", "--crash-window", "120"])
    procs: list[psutil.Process] = []
    try:
        up.wait_ready()
        procs = up.started_processes(data_dir)
        os.kill(component_pid(up, "chat@"), signal.SIGKILL)
        wait_for(lambda: "restarting worker-chat (restart 1)" in up.output(), 60, "the first restart", up)
        second = wait_for(lambda: re.search(r"worker-chat\s*\| .*ready\.", up.output().split("restarting worker-chat")[-1])
                          and component_pid(up, "chat@"), 120, "the restarted worker to be ready", up)
        procs = up.started_processes(data_dir)
        os.kill(second, signal.SIGKILL)
        assert up.proc.wait(120) == 1
        out = up.output()
        assert "worker-chat crashed 2 times within 120 s; stopping the platform." in out
        report = out.split("last log lines of worker-chat", 1)[1]
        assert "ready." in report  # the component's own output, as it was before it died
        assert "stopped." in out
        assert not still_running(procs), [p.pid for p in still_running(procs)]
        assert not processes_using(data_dir)
    finally:
        up.kill_leftovers(procs)
