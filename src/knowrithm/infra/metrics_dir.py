"""The directory prometheus-client's multiprocess mode writes to (infra/metrics.py).

Every process writes its samples to files named after its pid (`counter_<pid>.db`,
`gauge_livesum_<pid>.db`, ...), and a scrape sums every file there. Files of processes gone
before this start (a previous run, a crashed master) would be summed forever, so the master
of a process group clears them when it starts; while it runs, dead children's live gauges are
removed as they exit (`mark_process_dead`), and their counters stay, so totals never go back.
This module must not import prometheus-client: the directory is set before it is imported.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"
_SAMPLE_FILE = re.compile(r"^[a-z_]+_(\d+)\.db$")


def prepare(prefix: str) -> str:
    """The process group's directory: a fresh temporary one, or the one the environment names
    (that directory belongs to this process group alone), cleared of other processes' files."""
    path = os.environ.get(ENV)
    if not path:
        os.environ[ENV] = path = tempfile.mkdtemp(prefix=prefix)
        return path
    Path(path).mkdir(parents=True, exist_ok=True)
    clear_stale(path, keep_pid=os.getpid())
    return path


def clear_stale(path: str, *, keep_pid: int) -> list[str]:
    """Removes the sample files of every process but `keep_pid`; returns their names."""
    removed = []
    for entry in os.scandir(path):
        match = _SAMPLE_FILE.match(entry.name)
        if match and int(match.group(1)) != keep_pid:
            os.remove(entry.path)
            removed.append(entry.name)
    return removed
