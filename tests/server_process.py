"""A real ``ned-server`` in a child process, for the tests and benchmarks that kill, restart or weigh it.

An in-process server (tests/conftest.py) is cheaper, but SIGKILL, a restart on the same store and
the server's own memory can only be observed on a process of its own. The child is started as a
user would start it (``python -m ned_server.api.cli --port 0 ...``); its address is read from the
``listening on HOST:PORT`` line it logs, and its log is kept (a reader thread drains stderr, so a
chatty server never blocks on a full pipe).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

from ned_plugin.client import ConnectionSettings, NedClient
from ned_server.synthetic.flame_assets import install_standin_flame

LISTENING = re.compile(r"listening on (\S+):(\d+)")
REPO = Path(__file__).resolve().parents[1]


class ServerProcess:
    """``with ServerProcess(store, models) as srv:`` starts it; ``kill()`` / ``restart()`` / ``client()``."""

    def __init__(self, store: Path, models: Path, *extra: str, start_timeout_s: float = 120.0) -> None:
        self.store, self.models, self.extra = Path(store), Path(models), tuple(extra)
        install_standin_flame(self.models)  # the server has no FLAME of its own: the stand-in head
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.lines: list[str] = []
        self._listening = threading.Event()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ life
    def start(self) -> ServerProcess:
        env = {**os.environ, "NED_DEVICE": "cpu", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), str(REPO / "plugin"), env.get("PYTHONPATH"))
                                            if p)
        env.pop("NED_TOKEN", None)
        command: Sequence[str] = [sys.executable, "-m", "ned_server.api.cli", "--port", "0", "--store", str(self.store),
                                  "--models", str(self.models), "--grace", "2", *self.extra]
        self._listening.clear()
        self.lines = []
        self.proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                     env=env, cwd=REPO)
        threading.Thread(target=self._drain, args=(self.proc,), daemon=True, name="ned-server-log").start()
        deadline = time.monotonic() + self.start_timeout_s
        while not self._listening.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("ned-server did not start:\n" + self.log()[-4000:])
        return self

    def _drain(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            with self._lock:
                self.lines.append(line)
            match = LISTENING.search(line)
            if match and not self._listening.is_set():
                self.port = int(match.group(2))
                self._listening.set()

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed; what is on disk is what a crash leaves."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> int | None:
        """SIGTERM and wait for the drain; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def restart(self) -> ServerProcess:
        self.kill()
        return self.start()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ facts
    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def rss(self) -> int:
        """Resident memory of the server process, in bytes."""
        assert self.proc is not None
        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def log(self) -> str:
        with self._lock:
            return "".join(self.lines)

    def client(self, **settings: object) -> NedClient:
        return NedClient(ConnectionSettings(address=self.address, **{"deadline_s": 30.0, **settings}))


class PeakMemory:
    """Samples a server's RSS in the background; ``peak`` is the largest value seen since ``reset``."""

    def __init__(self, server: ServerProcess, every_s: float = 0.05) -> None:
        self.server, self.every_s = server, every_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="ned-rss")

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.peak = max(self.peak, self.server.rss())
            except (psutil.Error, AssertionError):
                continue

    def reset(self) -> None:
        self.peak = self.server.rss()

    def __enter__(self) -> PeakMemory:
        self.reset()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
