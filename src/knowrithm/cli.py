"""`knowrithm up | api | worker | beat | db ...`"""
from __future__ import annotations

import json
import os
import signal
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


def _settings():
    from .config import Settings

    return Settings()


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


def _broker_is_embedded(env: dict[str, str]) -> str | None:
    """The broker URL when it is the Redis `up` started itself (then no other node consumes it)."""
    from .config import Settings

    if "REDIS_URL" not in env or Settings().CELERY_BROKER_URL:
        return None
    return env["REDIS_URL"]


# Queues each supervised worker consumes: its messages are requeued when it dies (see below).
WORKER_COMPONENT_QUEUES = {"worker-chat": {"critical"}, "worker": set(OTHER_QUEUES.split(","))}


@main.command()
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--data-dir", default=".knowrithm", show_default=True, type=click.Path(path_type=Path))
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn worker processes")
@click.option("--grace", default=20.0, show_default=True, type=float,
              help="seconds Ctrl-C waits for requests, streams and tasks before killing what is left")
@click.option("--max-crashes", default=5, show_default=True, type=int,
              help="crashes of one component within --crash-window that stop the platform")
@click.option("--crash-window", default=60.0, show_default=True, type=float)
@click.option("--metrics-port", default=None, type=int,
              help="with METRICS_TOKEN set: the chat worker's Prometheus exporter port, the other worker's "
                   "is the next one  [default: METRICS_WORKER_PORT, else --port + 1]")
def up(port: int, host: str, data_dir: Path, workers: int, grace: float, max_crashes: int,
       crash_window: float, metrics_port: int | None) -> None:
    """Run the whole platform (API, workers, beat) on embedded services; Ctrl-C stops everything.

    A component that crashes is restarted with backoff while the rest keep serving."""
    from .infra.embedded import die_with_parent
    from .infra.redelivery import restore_unacked
    from .supervisor import Supervisor

    data_dir = data_dir.resolve()
    services: list = []
    failed = False
    broker: str | None = None

    def requeue_for(component) -> None:
        # The dead worker's process group is already killed, so nothing still runs its tasks.
        if broker and component.name in WORKER_COMPONENT_QUEUES:
            try:
                restore_unacked(broker, WORKER_COMPONENT_QUEUES[component.name])
            except Exception as exc:  # noqa: BLE001 - the visibility timeout still returns them
                click.secho(f"could not requeue the tasks of {component.name}: {exc}", fg="yellow", err=True)

    # die_with_parent: even a SIGKILLed `up` leaves no API, worker or beat behind.
    sup = Supervisor(data_dir / "logs", max_crashes=max_crashes, window=crash_window, on_crash=requeue_for,
                     preexec_fn=die_with_parent)
    _Stop.requested, _Stop.raise_now = False, True
    signal.signal(signal.SIGINT, _Stop.handler)
    signal.signal(signal.SIGTERM, _Stop.handler)  # `kill <pid>` stops as cleanly as Ctrl-C
    try:
        env = _prepare(data_dir, services)
        os.environ.update(env)
        os.environ.setdefault("BASE_URL", f"http://{host}:{port}")
        broker = _broker_is_embedded(env)
        _Stop.raise_now = False
        if _Stop.requested:
            raise KeyboardInterrupt
        if broker:  # tasks a killed previous run was executing run again now
            restore_unacked(broker, set().union(*WORKER_COMPONENT_QUEUES.values()))
        url = f"http://{host}:{port}"
        started = time.time()
        metrics = _metrics_env(data_dir, url, metrics_port)
        report = data_dir / "bootstrap.json"
        report.unlink(missing_ok=True)
        # The gunicorn master migrates and seeds (bootstrapped_app) before it listens, then forks
        # its workers from the loaded app. The Celery worker starts meanwhile (it needs only Redis
        # to come up); so after an upgrade, a task left queued by the previous run may start
        # before the new migration lands. Production runs `knowrithm db upgrade` first.
        sup.add("api", ["gunicorn", f"knowrithm.bootstrap:bootstrapped_app({str(report)!r})",
                        "-c", "python:knowrithm.gunicorn_conf", "--bind", f"{host}:{port}", "--preload",
                        "--workers", str(workers), *_no_control_socket()], env=metrics["api"])
        # Chat answers get their own thread-pool worker (they wait on models, not the CPU); the
        # rest share a prefork worker (ingestion is CPU-bound). See worker.CRITICAL_WORKER_ARGS.
        # --without-mingle/gossip: the two workers need not sync, and the steps wait ~1 s each.
        quiet = ("--loglevel", "INFO", "--without-mingle", "--without-gossip")
        sup.add("worker-chat", ["celery", "-A", "knowrithm.worker", "worker", *CRITICAL_WORKER_ARGS,
                                "-n", f"chat@{host}:{port}", *quiet], env=metrics["worker-chat"])
        sup.add("worker", ["celery", "-A", "knowrithm.worker", "worker", "-Q", OTHER_QUEUES,
                           "--concurrency", "2", "-n", f"knowrithm@{host}:{port}", *quiet], env=metrics["worker"])
        workers = [f"chat@{host}:{port}", f"knowrithm@{host}:{port}"]
        healthy, crashed = _wait_healthy(url, sup, workers=workers, since=started)
        if _Stop.requested:
            raise KeyboardInterrupt
        # Beat only schedules periodic housekeeping; it starts once the rest is up so that it
        # does not compete for the CPU with the start of the API and the worker.
        sup.add("beat", ["celery", "-A", "knowrithm.worker", "beat", "--loglevel", "INFO",
                         "-s", str(data_dir / "celerybeat-schedule")])
        info = _read_report(report)
        report.unlink(missing_ok=True)
        if healthy and info:
            click.secho(f"\nKnowrithm is running at {url}", fg="green", bold=True)
            click.echo(f"  API          {url}/api/v1   (docs: {url}/api/docs)")
            click.echo(f"  health       {url}/api/health")
            click.echo(f"  metrics      {metrics['summary']}")
            click.echo(f"  super admin  {info['admin_email']}  password: {info['admin_password']}")
            click.echo(f"  data         {data_dir}   (secrets: {data_dir / 'secrets.env'}, logs: {data_dir / 'logs'})")
            click.echo(f"  sqlite files {os.pathsep.join(_settings().database_file_dirs)}   (DATABASE_FILE_DIRS)")
            click.echo("Press Ctrl-C to stop.")
            sys.stdout.flush()
            while not _Stop.requested:
                crashed = sup.check()
                if crashed is not None:
                    break
                time.sleep(0.2)
            if _Stop.requested:
                raise KeyboardInterrupt
            click.secho(sup.failure_report(crashed), fg="red", err=True)
        elif crashed is not None:
            click.secho(f"{crashed.name} exited while the platform was starting; stopping.\n"
                        + sup.failure_report(crashed).split("\n", 1)[1], fg="red", err=True)
        else:
            click.secho("the platform did not become healthy; stopping", fg="red", err=True)
        failed = True
    except KeyboardInterrupt:
        click.echo("\nstopping ...")
    finally:
        # A second Ctrl-C must not abandon the shutdown half-way and leave orphans.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sup.stop(grace)
        for service in reversed(services):
            service.stop()
        click.echo("stopped.")
    if failed:
        raise SystemExit(1)


def _metrics_env(data_dir: Path, url: str, metrics_port: int | None) -> dict:
    """Each component's environment for Prometheus: its own multiprocess directory (a master
    clears its directory's stale files at start, so components never share one), and with
    METRICS_TOKEN set, each Celery worker its own exporter port (one port cannot serve two
    workers; the second would fail to bind)."""
    settings = _settings()
    out: dict = {}
    ports: dict[str, int] = {}
    if settings.METRICS_TOKEN:
        first = metrics_port or settings.METRICS_WORKER_PORT or int(url.rsplit(":", 1)[1]) + 1
        ports = {"worker-chat": first, "worker": first + 1}
    for name in ("api", "worker-chat", "worker"):
        folder = data_dir / "metrics" / name
        folder.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
        env.pop("METRICS_WORKER_PORT", None)
        if name in ports:
            env["METRICS_WORKER_PORT"] = str(ports[name])
        out[name] = env
    if ports:
        bind = settings.METRICS_BIND
        out["summary"] = (f"{url}/metrics, workers http://{bind}:{ports['worker-chat']}/metrics (chat) "
                          f"and http://{bind}:{ports['worker']}/metrics   (Authorization: Bearer $METRICS_TOKEN)")
    else:
        out["summary"] = "off (set METRICS_TOKEN to serve /metrics and the workers' exporters)"
    return out


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


def _wait_healthy(url: str, sup, workers: list[str] = (), since: float = 0.0, timeout: float = 120):
    """(healthy, the component that exited meanwhile): a crash while starting is a setup problem
    (a bad setting, a failed migration), so it stops the start instead of being retried.

    Healthy means the API answers /api/health and every named Celery worker has sent a heartbeat
    since `since`: health needs only one live worker, and "running" must mean both consume (and
    serve their metrics exporters, which start before the first heartbeat)."""
    import requests

    deadline = time.time() + timeout
    while time.time() < deadline and not _Stop.requested:
        for component in sup.components:
            if not component.running:
                component.crashes.append(time.monotonic())
                return False, component
        try:
            if requests.get(f"{url}/api/health", timeout=2).status_code == 200 and _workers_beating(workers, since):
                return True, None
        except requests.RequestException:
            pass
        time.sleep(0.1)
    return False, None


def _workers_beating(names, since: float) -> bool:
    if not names:
        return True
    import redis

    from .infra.redis import WORKERS_KEY

    client = redis.Redis.from_url(_settings().REDIS_URL)
    try:
        # A previous run's entry under the same name is older than `since`.
        return all((client.zscore(WORKERS_KEY, name) or 0) >= since for name in names)
    except redis.RedisError:
        return False
    finally:
        client.close()


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
def tasks() -> None:
    """Background tasks."""


@tasks.group("dead-letter")
def dead_letter() -> None:
    """Tasks that failed for good, kept in the dead_letter queue."""


@dead_letter.command("list")
@click.option("--limit", default=1000, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="one JSON document instead of a table")
def dead_letter_list(limit: int, as_json: bool) -> None:
    """Show the dead-lettered tasks (they stay in the queue)."""
    from .app import create_app
    from .domains.system.dead_letters import list_dead_letters

    app = create_app()
    with app.app_context():
        letters = list_dead_letters(app.extensions["celery"], limit)
    if as_json:
        click.echo(json.dumps(letters, indent=2))
        return
    for letter in letters:
        click.echo(f"{letter['task_id']}  {letter['task_name']}  {letter['error'][:100]}")
    click.echo(f"{len(letters)} dead-lettered task(s)")


@dead_letter.command("replay")
@click.argument("task_ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="replay every dead-lettered task")
def dead_letter_replay(task_ids: tuple[str, ...], replay_all: bool) -> None:
    """Send dead-lettered tasks again under their task ids (and take them off the queue)."""
    from .app import create_app
    from .domains.system.dead_letters import replay

    if not task_ids and not replay_all:
        raise click.UsageError("name the task ids to replay, or pass --all")
    app = create_app()
    with app.app_context():
        done = replay(app.extensions["celery"], None if replay_all else set(task_ids))
    for letter in done:
        click.echo(f"replayed {letter['task_id']}  {letter['task_name']}")
    missing = set(task_ids) - {letter["task_id"] for letter in done}
    for task_id in sorted(missing):
        click.secho(f"not in the dead-letter queue: {task_id}", fg="yellow", err=True)
    click.echo(f"{len(done)} task(s) replayed")
    if missing:
        raise SystemExit(1)


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


@main.command()
@click.option("--to", "destination", default=None,
              help="a directory or s3://bucket/prefix (default: BACKUP_DIR)")
def backup(destination: str | None) -> None:
    """Back up the database (pg_dump, custom format) and the upload folder, with a manifest."""
    from .config import Settings
    from .domains.lifecycle.backup import BackupError, create_backup

    settings = Settings()
    destination = destination or settings.BACKUP_DIR
    if not destination:
        raise click.UsageError("give --to DIR (or s3://bucket/prefix), or set BACKUP_DIR")
    try:
        manifest = create_backup(settings, destination)
    except BackupError as exc:
        click.secho(f"backup failed: {exc}", fg="red", err=True)
        raise SystemExit(1)
    sizes = ", ".join(f"{name} {meta['size']:,} bytes" for name, meta in manifest["files"].items())
    click.echo(f"backup {manifest['location']} (schema {manifest['schema_version']}; {sizes})")


@main.command()
@click.argument("source")
def restore(source: str) -> None:
    """Restore a backup (a folder made by `knowrithm backup`, or s3://bucket/prefix/knowrithm-...).
    Refused, with nothing changed, when a checksum or the schema version does not match."""
    from .config import Settings
    from .domains.lifecycle.backup import BackupError, restore_backup

    try:
        result = restore_backup(Settings(), source)
    except BackupError as exc:
        click.secho(f"restore refused: {exc}; the database was not changed", fg="red", err=True)
        raise SystemExit(1)
    rows = sum(result["row_counts"].values())
    click.echo(f"restored {result['name']} (schema {result['schema_version']}; {rows:,} rows; "
               f"counts {'match' if result['matches_manifest'] else 'DIFFER FROM'} the manifest)")


@main.group()
def secrets() -> None:
    """Stored secrets (provider keys, database URLs)."""


@secrets.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every stored secret with the newest key in ENCRYPTION_KEY (put the new key first).
    Afterwards the old keys can be removed. Nothing changes if any secret cannot be read."""
    from .app import create_app
    from .domains.lifecycle.rotation import RotationRefused, rotate_secrets

    app = create_app()
    with app.app_context():
        try:
            counts = rotate_secrets()
        except RotationRefused as exc:
            click.secho(f"refused: {exc}; nothing was changed. Unreadable:", fg="red", err=True)
            for item in exc.unreadable:
                click.echo(f"  {item}", err=True)
            raise SystemExit(1)
    for where, n in sorted(counts.items()):
        click.echo(f"{where}: {n}")
    click.echo(f"rotated {sum(counts.values())} secret(s)")


if __name__ == "__main__":
    main()
