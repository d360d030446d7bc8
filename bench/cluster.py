"""A two-node Knowrithm topology on one machine, every hop real and on loopback
(`deploy/local-cluster.sh` starts it; the fault tests and bench/load.py use it):

    nginx :N  ->  api-a (gunicorn master + gevent workers)  \
              ->  api-b (gunicorn master + gevent workers)   ->  pgBouncer  ->  PostgreSQL 16 + pgvector
    worker-chat   (critical, default; thread pool)           ->  (transaction pool)
    worker-ingest (slow, low; prefork)                       ->  (session pool: index builds)
    beat
    Redis: the Celery broker for both pools, cache, rate limits, event streams

Both worker pools use one broker, Redis: a Celery app has one broker URL, so splitting the pools
across Redis and RabbitMQ would need two apps with their own routing. RabbitMQ as *the* broker is
tested on its own (tests/deploy/test_rabbitmq_broker.py).

The Python components run under knowrithm.supervisor (restart with backoff, like a process
manager or Kubernetes would); a worker pool that dies has its unacknowledged messages requeued
at once, since it is the only consumer of its queues (knowrithm.infra.redelivery).
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from knowrithm.infra.embedded import free_port

REPO = Path(__file__).resolve().parents[1]
PGBOUNCER_TEMPLATE = REPO / "deploy" / "pgbouncer" / "pgbouncer.ini"
NGINX_TEMPLATE = REPO / "deploy" / "nginx" / "local-cluster.conf"


OPEN_FILES = 65536  # every held event stream is a socket in the client, nginx (two) and a node


def raise_open_files(wanted: int = OPEN_FILES) -> int:
    """`ulimit -n` for this process and all it starts: up to `wanted` (past the hard limit only as
    root); returns the limit in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for limits in ((max(wanted, hard), max(wanted, hard)), (hard, hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, limits)
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_port(port: int, proc: subprocess.Popen | None, what: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if listening(port):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port}")


def pgbouncer_binary() -> str | None:
    return shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None)


def nginx_binary() -> str | None:
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


class PgBouncer:
    """Debian's pgBouncer configured from deploy/pgbouncer/pgbouncer.ini. It refuses to run as
    root; as root it runs as the owner of the PostgreSQL socket directory (pgserver's user)."""

    def __init__(self, pg_host: str, database: str, pg_port: int = 5432, pool_size: int = 20):
        # Its own directory under /tmp: pgBouncer may run as a user that must read it.
        self.dir = Path(tempfile.mkdtemp(prefix="knowrithm-pgbouncer-"))
        self.dir.chmod(0o755)
        self.port = free_port()
        auth = self.dir / "userlist.txt"
        auth.write_text('"postgres" ""\n')
        values = {"PGHOST": pg_host, "PGPORT": str(pg_port), "PGDATABASE": database, "LISTEN_PORT": str(self.port),
                  "AUTH_TYPE": "trust", "AUTH_FILE": str(auth), "POOL_SIZE": str(pool_size),
                  "LOGFILE": str(self.dir / "pgbouncer.log"), "PIDFILE": str(self.dir / "pgbouncer.pid"),
                  "ADMIN_USER": "postgres"}
        text = PGBOUNCER_TEMPLATE.read_text()
        for key, value in values.items():
            text = text.replace(f"@{key}@", value)
        self.ini = self.dir / "pgbouncer.ini"
        self.ini.write_text(text)
        self.user = None
        if os.geteuid() == 0:
            self.user = pwd.getpwuid(os.stat(pg_host).st_uid).pw_name if pg_host.startswith("/") else "nobody"
            shutil.chown(self.dir, self.user)
        self.proc: subprocess.Popen | None = None

    def start(self) -> "PgBouncer":
        args = [pgbouncer_binary(), str(self.ini)]
        if self.user:
            args[1:1] = ["-u", self.user]
        with open(self.dir / "stderr.log", "wb") as err:
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
        try:
            wait_port(self.port, self.proc, "pgbouncer", 20)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}: {self.log()}") from None
        return self

    def log(self) -> str:
        return "".join(p.read_text()[-3000:] for p in (self.dir / "pgbouncer.log", self.dir / "stderr.log")
                       if p.exists())

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self, command: str) -> list[tuple]:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, dbname="pgbouncer", user="postgres",
                             autocommit=True, prepare_threshold=None) as conn:
            cur = conn.cursor()
            cur.execute(command)
            return cur.fetchall()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class Nginx:
    def __init__(self, root: Path, upstreams: list[int]):
        self.dir = root / "nginx"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        servers = "".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n" for p in upstreams)
        text = NGINX_TEMPLATE.read_text().replace("@PREFIX@", str(self.dir)).replace("@LISTEN_PORT@", str(self.port))
        self.conf = self.dir / "nginx.conf"
        self.conf.write_text(text.replace("@UPSTREAM_SERVERS@\n", servers))
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Nginx":
        with open(self.dir / "stderr.log", "wb") as err:
            self.proc = subprocess.Popen([nginx_binary(), "-p", str(self.dir), "-c", str(self.conf),
                                          "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=err)
        wait_port(self.port, self.proc, "nginx", 20)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: finish the open requests
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Cluster:
    def __init__(self, root: Path, *, api_workers: int = 1, worker_connections: int = 5000,
                 extra_env: dict[str, str] | None = None):
        self.root = root
        self.api_workers = api_workers
        self.worker_connections = worker_connections
        self.extra_env = extra_env or {}
        self.pg = self.redis = self.bouncer = self.nginx = self.sup = None
        self.api_ports: dict[str, int] = {}
        self._watch: threading.Thread | None = None
        self._stopping = threading.Event()
        self.failure: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.nginx.port}"

    def start(self) -> "Cluster":
        from knowrithm.infra.embedded import EmbeddedPostgres, EmbeddedRedis, load_or_create_secrets
        from knowrithm.supervisor import Supervisor

        self.root.mkdir(parents=True, exist_ok=True)
        self.open_files = raise_open_files()
        self.pg = EmbeddedPostgres(self.root / "postgres")
        direct = self.pg.start("knowrithm")
        self.redis = EmbeddedRedis(self.root / "redis")
        redis_url = self.redis.start()
        socket_dir = direct.split("host=", 1)[1]
        self.bouncer = PgBouncer(socket_dir, "knowrithm", pool_size=20).start()
        secrets = load_or_create_secrets(self.root / "secrets.env")
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "CELERY_BROKER_URL")}
        self.env.update({
            "ENV": "production", **{k: secrets[k] for k in ("SECRET_KEY", "JWT_SECRET_KEY", "ENCRYPTION_KEY",
                                                              "SUPER_ADMIN_PASSWORD")},
            "SQLALCHEMY_DATABASE_URI": self.bouncer.url("knowrithm"), "PGBOUNCER_TRANSACTION_MODE": "true",
            "REDIS_URL": redis_url, "UPLOAD_FOLDER": str(self.root / "uploads"), "LOG_JSON": "false",
            # Client connections to pgBouncer are cheap (it multiplexes them onto its 20 server
            # connections): a pool this size lets a burst of stream opens wait in pgBouncer's queue
            # rather than time out in SQLAlchemy's.
            "LOG_LEVEL": "WARNING", "BASE_URL": "http://127.0.0.1", "SQLALCHEMY_POOL_SIZE": "40",
            "SQLALCHEMY_MAX_OVERFLOW": "60",
            **self.extra_env,
        })
        self.super_admin_password = secrets["SUPER_ADMIN_PASSWORD"]
        migrate = subprocess.run([sys.executable, "-m", "knowrithm.cli", "db", "upgrade"], env=self.env,
                                 capture_output=True, text=True, timeout=600)
        if migrate.returncode != 0:
            raise RuntimeError(f"migration failed: {migrate.stderr[-3000:]}")

        self.sup = Supervisor(self.root / "logs", max_crashes=20, window=60, backoff_base=0.5,
                              on_crash=self._requeue)
        for name in ("api-a", "api-b"):
            port = free_port()
            self.api_ports[name] = port
            self.sup.add(name, ["gunicorn", "-c", "python:knowrithm.gunicorn_conf", "knowrithm.wsgi:app",
                                "--bind", f"127.0.0.1:{port}", "--workers", str(self.api_workers),
                                "--worker-connections", str(self.worker_connections), "--no-control-socket"],
                         self.env)
        quiet = ("--loglevel", "WARNING", "--without-mingle", "--without-gossip")
        self.sup.add("worker-chat", ["celery", "-A", "knowrithm.worker", "worker", "-Q", "critical,default",
                                     "--pool", "threads", "--concurrency", "16", "-n", "chat@%h", *quiet], self.env)
        # Index builds take session-level advisory locks: this pool uses pgBouncer's session pool.
        ingest_env = {**self.env, "SQLALCHEMY_DATABASE_URI": self.bouncer.url("knowrithm_session"),
                      "PGBOUNCER_TRANSACTION_MODE": "false"}
        self.sup.add("worker-ingest", ["celery", "-A", "knowrithm.worker", "worker", "-Q", "slow,low",
                                       "--concurrency", "2", "-n", "ingest@%h", *quiet], ingest_env)
        self.sup.add("beat", ["celery", "-A", "knowrithm.worker", "beat", "--loglevel", "WARNING",
                              "-s", str(self.root / "celerybeat-schedule")], self.env)
        for name, port in self.api_ports.items():
            self._wait_http(f"http://127.0.0.1:{port}/health/live", name)
        self.nginx = Nginx(self.root, list(self.api_ports.values())).start()
        self._watch = threading.Thread(target=self._supervise, daemon=True, name="cluster-supervisor")
        self._watch.start()
        self.wait_healthy()
        return self

    def _requeue(self, component) -> None:
        from knowrithm.infra.redelivery import restore_unacked

        queues = {"worker-chat": {"critical", "default"}, "worker-ingest": {"slow", "low"}}.get(component.name)
        if queues:
            restore_unacked(self.env["REDIS_URL"], queues)

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            crashed = self.sup.check()
            if crashed is not None:
                self.failure = self.sup.failure_report(crashed)
                return
            time.sleep(0.1)

    def _wait_http(self, url: str, what: str, timeout: float = 180) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if requests.get(url, timeout=3).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{what} did not answer at {url}")

    def wait_healthy(self, timeout: float = 180) -> None:
        self._wait_http(f"{self.url}/health", "the cluster", timeout)

    def component(self, name: str):
        return next(c for c in self.sup.components if c.name == name)

    def pid(self, name: str) -> int | None:
        c = self.component(name)
        return c.proc.pid if c.running else None

    def kill(self, name: str) -> int:
        """SIGKILL to a whole component (a gunicorn master with its workers, a Celery master with
        its pool): what a crashed node or an OOM kill looks like."""
        pid = self.pid(name)
        os.killpg(pid, signal.SIGKILL)
        return pid

    def restart_redis(self) -> None:
        self.redis.process.kill()
        self.redis.process.wait()
        self.redis.start()  # same port, same AOF directory

    def restart_postgres(self) -> None:
        from pgserver._commands import pg_ctl

        server = self.pg.server
        pg_ctl(["-w", "-m", "immediate", "restart"], pgdata=server.pgdata, user=server.system_user, timeout=120)

    def stop(self) -> None:
        self._stopping.set()
        if self.nginx:
            self.nginx.stop()
        if self.sup:
            self.sup.stop(20)
        if self.bouncer:
            self.bouncer.stop()
        if self.redis:
            self.redis.stop()
        if self.pg:
            self.pg.stop()


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path(".knowrithm-cluster"))
    parser.add_argument("--api-workers", type=int, default=1, help="gevent workers per API node")
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    cluster = Cluster(args.dir.resolve(), api_workers=args.api_workers)
    try:
        cluster.start()
        print(f"Knowrithm cluster at {cluster.url}  (nodes {cluster.api_ports}, pgBouncer :{cluster.bouncer.port}, "
              f"Redis {cluster.env['REDIS_URL']})")
        print(f"super admin {cluster.env.get('SUPER_ADMIN_EMAIL', 'admin@knowrithm.local')}  "
              f"password: {cluster.super_admin_password}   logs: {cluster.root / 'logs'}")
        print("Press Ctrl-C to stop.", flush=True)
        while not stop.is_set() and cluster.failure is None:
            stop.wait(0.5)
        if cluster.failure:
            print(cluster.failure, file=sys.stderr)
    finally:
        cluster.stop()
        print("stopped.")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "src"))
    main()
