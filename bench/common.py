"""Starts and stops `knowrithm up` for the benchmarks (same code path a user runs)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from knowrithm.infra.embedded import free_port

# Settings the caller may have exported: the benchmark measures the embedded default.
PLATFORM_VARS = ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND",
                 "SECRET_KEY", "JWT_SECRET_KEY", "ENCRYPTION_KEY", "SUPER_ADMIN_PASSWORD", "UPLOAD_FOLDER")


def knowrithm() -> list[str]:
    script = Path(sys.executable).parent / "knowrithm"
    return [str(script)] if script.exists() else [sys.executable, "-m", "knowrithm.cli"]


class Platform:
    """`knowrithm up --port P --data-dir D`, timed from spawn until /api/health answers 200."""

    def __init__(self, data_dir: Path, port: int | None = None, workers: int = 2):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.proc: subprocess.Popen | None = None
        self.seconds_to_healthy: float | None = None

    def start(self, timeout: float = 300) -> float:
        env = {k: v for k, v in os.environ.items() if k not in PLATFORM_VARS}
        env.setdefault("LOG_LEVEL", "WARNING")
        self.log = open(self.data_dir.parent / f"up-{self.port}.log", "wb")
        started = time.perf_counter()
        self.proc = subprocess.Popen([*knowrithm(), "up", "--port", str(self.port), "--data-dir", str(self.data_dir),
                                      "--workers", str(self.workers)],
                                     cwd=self.data_dir.parent, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        session = requests.Session()
        while time.perf_counter() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"knowrithm up exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if session.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    self.seconds_to_healthy = time.perf_counter() - started
                    return self.seconds_to_healthy
            except requests.RequestException:
                pass
            time.sleep(0.02)
        raise RuntimeError("knowrithm up did not become healthy")

    def stop(self) -> float:
        started = time.perf_counter()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(120)
        self.log.close()
        return time.perf_counter() - started

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]
