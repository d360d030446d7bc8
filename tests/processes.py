"""Stopping the real processes a test started (each in its own session, `start_new_session=True`)."""
from __future__ import annotations

import os
import signal
import subprocess


def stop_groups(procs: list[subprocess.Popen], grace: float = 30) -> None:
    """SIGTERM to each still-running process group, then SIGKILL to any still there after `grace` s."""
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
