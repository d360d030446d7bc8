"""Supervision of the processes `knowrithm up` runs (API, Celery workers, beat).

A component that exits on its own is restarted after a backoff that doubles with each crash
in the window (1 s, 2 s, 4 s ... capped), and the others keep serving. Only a component that
crashes `max_crashes` times within `window` seconds stops the platform, and the supervisor
then names it and shows its last log lines. Every component's output goes to the terminal
(prefixed with its name) and to `<log_dir>/<name>.log`.
"""
from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import click


@dataclass
class Component:
    name: str
    args: list[str]
    log_path: Path
    env: dict[str, str] | None = None  # None: this process's environment
    proc: subprocess.Popen | None = None
    tail: collections.deque = field(default_factory=lambda: collections.deque(maxlen=30))
    crashes: collections.deque = field(default_factory=collections.deque)
    restart_at: float | None = None
    restarts: int = 0

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Supervisor:
    def __init__(self, log_dir: Path, *, max_crashes: int = 5, window: float = 60.0, backoff_base: float = 1.0,
                 backoff_max: float = 30.0, on_crash: Callable[[Component], None] | None = None,
                 preexec_fn: Callable[[], None] | None = None):
        self.log_dir = log_dir
        self.max_crashes, self.window = max_crashes, window
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.on_crash = on_crash
        self.preexec_fn = preexec_fn
        self.components: list[Component] = []
        self._out_lock = threading.Lock()

    # --- starting ------------------------------------------------------------------------
    def add(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Component:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        component = Component(name, args, self.log_dir / f"{name}.log", env)
        self.components.append(component)
        self._spawn(component)
        return component

    def _spawn(self, component: Component) -> None:
        # Its own session: Ctrl-C in the terminal reaches only `up`, which stops the components in
        # order; the session id is also the process group that is killed when the component dies.
        component.proc = subprocess.Popen(
            [sys.executable, "-m", *component.args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=component.env, start_new_session=True, preexec_fn=self.preexec_fn,
        )
        component.restart_at = None
        threading.Thread(target=self._pump, args=(component, component.proc), daemon=True,
                         name=f"log-{component.name}").start()

    def _pump(self, component: Component, proc: subprocess.Popen) -> None:
        with open(component.log_path, "ab") as log:
            for raw in iter(proc.stdout.readline, b""):
                log.write(raw)
                log.flush()
                line = raw.decode("utf-8", "replace").rstrip("\n")
                component.tail.append(line)
                with self._out_lock:
                    try:
                        sys.stdout.write(f"{component.name:<12}| {line}\n")
                        sys.stdout.flush()
                    except (OSError, ValueError):  # the terminal went away; the log file keeps it
                        pass
        proc.stdout.close()

    # --- watching ------------------------------------------------------------------------
    def check(self) -> Component | None:
        """Restarts what is due; returns the component that crashed too often, if any."""
        now = time.monotonic()
        for component in self.components:
            if component.proc is None:
                if component.restart_at is not None and now >= component.restart_at:
                    component.restarts += 1
                    click.secho(f"restarting {component.name} (restart {component.restarts})", fg="yellow", err=True)
                    self._spawn(component)
                continue
            code = component.proc.poll()
            if code is None:
                continue
            _kill_group(component.proc.pid)  # pool children of a killed Celery master, gunicorn workers
            component.proc = None
            component.crashes.append(now)
            while component.crashes and now - component.crashes[0] > self.window:
                component.crashes.popleft()
            if self.on_crash is not None:
                self.on_crash(component)
            if len(component.crashes) >= self.max_crashes:
                return component
            delay = min(self.backoff_max, self.backoff_base * 2 ** (len(component.crashes) - 1))
            click.secho(f"{component.name} exited with code {code}; restarting in {delay:g} s "
                        f"({len(component.crashes)} crash(es) in the last {self.window:g} s)", fg="yellow", err=True)
            component.restart_at = now + delay
        return None

    def failure_report(self, component: Component) -> str:
        lines = "\n".join(f"    {line}" for line in component.tail) or "    (no output)"
        return (f"{component.name} crashed {len(component.crashes)} times within {self.window:g} s; "
                f"stopping the platform.\nlast log lines of {component.name} ({component.log_path}):\n{lines}")

    # --- stopping ------------------------------------------------------------------------
    def stop(self, grace: float) -> None:
        """SIGTERM to every component (newest first), then SIGKILL to whatever is left at the deadline."""
        import psutil

        tree: list[psutil.Process] = []
        for component in self.components:
            component.restart_at = None
            if component.running:
                try:
                    tree += psutil.Process(component.proc.pid).children(recursive=True)
                except psutil.NoSuchProcess:
                    pass
        for component in reversed(self.components):
            if component.running:
                component.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for component in self.components:
            if component.proc is None:
                continue
            try:
                component.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                click.secho(f"{component.name} did not stop within {grace:g} s; killing it", fg="yellow", err=True)
            _kill_group(component.proc.pid)
            component.proc.wait()
        gone, alive = psutil.wait_procs(tree, timeout=1)
        for proc in alive:
            proc.kill()
        psutil.wait_procs(alive, timeout=5)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
