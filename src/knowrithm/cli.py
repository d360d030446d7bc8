"""`knowrithm up | api | worker | beat | db ...`"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from .worker import CRITICAL_WORKER_ARGS, OTHER_QUEUES, WORKER_QUEUES


@click.group()
def main() -> None:
    """Knowrithm: multi-tenant AI agents trained on your own knowledge."""


def _prepare(data_dir: Path, started: list) -> dict[str, str]:
    """Starts embedded services for whatever the environment does not configure.

    Each service is appended to `started` as soon as it runs, so an interrupted start still stops it.
    """
    from .config import DEV_ENCRYPTION_KEY, DEV_SECRET, Settings
    from .infra.embedded import EmbeddedPostgres, EmbeddedRedis, load_or_create_secrets

    configured = Settings()  # the environment and ./.env, as the children will read them
    env: dict[str, str] = {}
    secrets = load_or_create_secrets(data_dir / "secrets.env")
    for key in ("SECRET_KEY", "JWT_SECRET_KEY", "ENCRYPTION_KEY", "SUPER_ADMIN_PASSWORD"):
        if getattr(configured, key) in (None, "", DEV_SECRET, DEV_ENCRYPTION_KEY):
            env[key] = secrets[key]
    if not configured.SQLALCHEMY_DATABASE_URI:
        click.echo("starting embedded PostgreSQL (pgvector) ...")
        pg = EmbeddedPostgres(data_dir / "postgres")
        started.append(pg)
        env["SQLALCHEMY_DATABASE_URI"] = pg.start()
    if not configured.REDIS_URL:
        click.echo("starting embedded Redis ...")
        rd = EmbeddedRedis(data_dir / "redis")
        started.append(rd)
        env["REDIS_URL"] = rd.start()
    if "UPLOAD_FOLDER" not in configured.model_fields_set:
        env["UPLOAD_FOLDER"] = str(data_dir / "uploads")
    return env


class _Stop:
    """Ctrl-C / SIGTERM. While the embedded services start (initdb, pg_ctl) the signal raises
    KeyboardInterrupt; once children are being spawned it only sets `requested`, which the
    loops below check, so no library code that swallows exceptions can lose the request."""

    requested = False
    raise_now = True

    @classmethod
    def handler(cls, *_):
        cls.requested = True
        if cls.raise_now:
            raise KeyboardInterrupt


def _spawn(args: list[str]) -> subprocess.Popen:
    """A child in its own session: Ctrl-C reaches only `up`, which stops the children first and
    Redis and PostgreSQL after them (no errors from cut connections); die_with_parent covers a
    killed `up`."""
    from .infra.embedded import die_with_parent

    return subprocess.Popen([sys.executable, "-m", *args], start_new_session=True, preexec_fn=die_with_parent)


def _stop_children(children: list[subprocess.Popen], timeout: float = 20) -> None:
    import psutil

    tree = []
    for child in children:
        try:
            tree += psutil.Process(child.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            pass
    for child in reversed(children):
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)  # warm shutdown: running tasks finish, requests drain
    deadline = time.time() + timeout
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    # Pool processes (gunicorn workers, celery prefork children) normally exit with their master.
    gone, alive = psutil.wait_procs(tree, timeout=5)
    for proc in alive:
        proc.kill()
    psutil.wait_procs(alive, timeout=5)


@main.command()
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--data-dir", default=".knowrithm", show_default=True, type=click.Path(path_type=Path))
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn worker processes")
def up(port: int, host: str, data_dir: Path, workers: int) -> None:
    """Run the whole platform (API, worker, beat) on embedded services; Ctrl-C stops everything."""
    data_dir = data_dir.resolve()
    services: list = []
    children: list[subprocess.Popen] = []
    failed = False
    _Stop.requested, _Stop.raise_now = False, True
    signal.signal(signal.SIGINT, _Stop.handler)
    signal.signal(signal.SIGTERM, _Stop.handler)  # `kill <pid>` stops as cleanly as Ctrl-C
    try:
        os.environ.update(_prepare(data_dir, services))
        os.environ.setdefault("BASE_URL", f"http://{host}:{port}")
        _Stop.raise_now = False
        if _Stop.requested:
            raise KeyboardInterrupt
        url = f"http://{host}:{port}"
        report = data_dir / "bootstrap.json"
        report.unlink(missing_ok=True)
        # The gunicorn master migrates and seeds (bootstrapped_app) before it listens, then forks
        # its workers from the loaded app. The Celery worker starts meanwhile (it needs only Redis
        # to come up); so after an upgrade, a task left queued by the previous run may start
        # before the new migration lands. Production runs `knowrithm db upgrade` first.
        children.append(_spawn(["gunicorn", f"knowrithm.bootstrap:bootstrapped_app({str(report)!r})",
                                "-c", "python:knowrithm.gunicorn_conf", "--bind", f"{host}:{port}", "--preload",
                                "--workers", str(workers), *_no_control_socket()]))
        # Chat answers get their own thread-pool worker (they wait on models, not the CPU); the
        # rest share a prefork worker (ingestion is CPU-bound). See worker.CRITICAL_WORKER_ARGS.
        # --without-mingle/gossip: the two workers need not sync, and the steps wait ~1 s each.
        quiet = ("--loglevel", "INFO", "--without-mingle", "--without-gossip")
        children.append(_spawn(["celery", "-A", "knowrithm.worker", "worker", *CRITICAL_WORKER_ARGS,
                                "-n", f"chat@{host}:{port}", *quiet]))
        children.append(_spawn(["celery", "-A", "knowrithm.worker", "worker", "-Q", OTHER_QUEUES,
                                "--concurrency", "2", "-n", f"knowrithm@{host}:{port}", *quiet]))
        healthy = _wait_healthy(url, children)
        if _Stop.requested:
            raise KeyboardInterrupt
        # Beat only schedules periodic housekeeping; it starts once the rest is up so that it
        # does not compete for the CPU with the start of the API and the worker.
        children.append(_spawn(["celery", "-A", "knowrithm.worker", "beat", "--loglevel", "INFO",
                                "-s", str(data_dir / "celerybeat-schedule")]))
        info = _read_report(report)
        report.unlink(missing_ok=True)
        if healthy and info:
            click.secho(f"\nKnowrithm is running at {url}", fg="green", bold=True)
            click.echo(f"  API          {url}/api/v1   (docs: {url}/api/docs)")
            click.echo(f"  health       {url}/api/health")
            click.echo(f"  super admin  {info['admin_email']}  password: {info['admin_password']}")
            click.echo(f"  data         {data_dir}   (secrets: {data_dir / 'secrets.env'})")
            click.echo("Press Ctrl-C to stop.")
            sys.stdout.flush()
            while not _Stop.requested and all(child.poll() is None for child in children):
                time.sleep(0.2)
            if _Stop.requested:
                raise KeyboardInterrupt
            click.secho("a component exited; stopping the rest", fg="red", err=True)
        else:
            click.secho("the platform did not become healthy; stopping", fg="red", err=True)
        failed = True
    except KeyboardInterrupt:
        click.echo("\nstopping ...")
    finally:
        # A second Ctrl-C must not abandon the shutdown half-way and leave orphans.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _stop_children(children)
        for service in reversed(services):
            service.stop()
        click.echo("stopped.")
    if failed:
        raise SystemExit(1)


def _read_report(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _no_control_socket() -> list[str]:
    """gunicorn >= 27 opens a control socket at one fixed per-user path; several local
    instances (tests, benchmarks) would fight over it."""
    import gunicorn

    return ["--no-control-socket"] if gunicorn.version_info >= (27,) else []


def _wait_healthy(url: str, children: list[subprocess.Popen], timeout: float = 120) -> bool:
    import requests

    deadline = time.time() + timeout
    while time.time() < deadline and not _Stop.requested:
        if any(child.poll() is not None for child in children):
            return False
        try:
            if requests.get(f"{url}/api/health", timeout=2).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.1)
    return False


@main.command()
@click.option("--bind", default="0.0.0.0:8000", show_default=True)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--worker-connections", default=5000, show_default=True, type=int)
def api(bind: str, workers: int, worker_connections: int) -> None:
    """Serve the API with gunicorn's gevent workers (each holds thousands of idle SSE streams)."""
    os.execvp(sys.executable, [sys.executable, "-m", "gunicorn", "-c", "python:knowrithm.gunicorn_conf",
                               "knowrithm.wsgi:app", "--bind", bind, "--workers", str(workers),
                               "--worker-connections", str(worker_connections)])


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--queues", "-Q", default=WORKER_QUEUES, show_default=True)
@click.option("--concurrency", "-c", default=2, show_default=True, type=int)
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker(queues: str, concurrency: int, celery_args: tuple[str, ...]) -> None:
    """Run a Celery worker (dead_letter is drained only when named in --queues)."""
    os.execvp(sys.executable, [sys.executable, "-m", "celery", "-A", "knowrithm.worker", "worker", "-Q", queues,
                               "--concurrency", str(concurrency), *celery_args])


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def beat(celery_args: tuple[str, ...]) -> None:
    """Run celery beat with the platform's schedule."""
    os.execvp(sys.executable, [sys.executable, "-m", "celery", "-A", "knowrithm.worker", "beat", *celery_args])


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations and seed the super admin and the provider catalog."""
    from .app import create_app
    from .bootstrap import bootstrap

    app = create_app()
    with app.app_context():
        info = bootstrap(app, revision=revision)
    click.echo(f"database at revision {info['revision']}")
    if info["password_generated"]:
        click.echo(f"super admin {info['admin_email']} created; password (shown once): {info['admin_password']}")


if __name__ == "__main__":
    main()
