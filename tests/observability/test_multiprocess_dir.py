"""gunicorn's Prometheus multiprocess directory: a previous run's sample files are cleared when
the master starts, and a worker that dies has its live gauges removed (gunicorn_conf.child_exit),
so neither is summed into later scrapes."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gunicorn
import requests

from knowrithm.infra.embedded import free_port as _free_port

ROOT = Path(__file__).resolve().parents[2]


def _pid(url: str, not_pid: int | None = None, timeout: float = 60.0) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            pid = int(requests.get(url, timeout=2).text)
            if pid != not_pid:
                return pid
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"no answer from a worker at {url}")


def test_stale_files_are_cleared_at_start_and_dead_workers_marked(tmp_path):
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    # What a previous run leaves behind: samples of processes long gone, and a file that is not ours.
    for name in ("counter_4194301.db", "histogram_4194301.db", "gauge_livesum_4194302.db"):
        (metrics / name).write_bytes(b"\0" * 16)
    (metrics / "notes.txt").write_text("kept")
    port = _free_port()
    args = [sys.executable, "-m", "gunicorn", "-c", "python:knowrithm.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
            "--workers", "1", "tests.observability.gauge_wsgi:app"]
    if gunicorn.version_info >= (27,):
        args.insert(3, "--no-control-socket")
    proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        first = _pid(url)
        files = {p.name for p in metrics.iterdir()}
        assert not files & {"counter_4194301.db", "histogram_4194301.db", "gauge_livesum_4194302.db"}
        assert "notes.txt" in files and f"gauge_livesum_{first}.db" in files

        os.kill(first, signal.SIGKILL)
        second = _pid(url, not_pid=first)  # gunicorn forked a replacement, after child_exit ran
        files = {p.name for p in metrics.iterdir()}
        assert f"gauge_livesum_{first}.db" not in files and f"gauge_livesum_{second}.db" in files
    finally:
        proc.terminate()  # the master stops its worker
        proc.wait(timeout=30)
