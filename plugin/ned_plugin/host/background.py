"""Node work on a daemon thread: progress a host can poll or be called back with, and a cancel.

Hosts must not be touched off their UI thread, so the work function gets only a progress callback
and a CancelToken; the job's status is copied out under a lock for the UI to read.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..client import CallCancelled, CancelToken, ProgressCallback, ProgressInfo


@dataclass
class JobStatus:
    title: str
    stage: str = ""
    done: int = 0
    total: int = 0
    message: str = ""
    finished: bool = False
    cancelled: bool = False
    result: Any = None
    error: BaseException | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0

    @property
    def line(self) -> str:
        """One status line for a progress bar's label."""
        counts = f" {self.done}/{self.total}" if self.total else ""
        return f"{self.title}: {self.stage or 'starting'}{counts} {self.message}".rstrip()


Work = Callable[[ProgressCallback, CancelToken], Any]


class BackgroundJob:
    """One piece of node work on a daemon thread, polled (Blender timers) or called back (Nuke).

    The work function gets a progress callback and a CancelToken and must not touch the host's
    data: it runs off the UI thread. ``on_done`` (if given) is called on the worker thread when it
    ends; hosts hop to their UI thread from there (nuke.executeInMainThread) or just poll.
    """

    def __init__(self, title: str, work: Work, on_done: Callable[[BackgroundJob], None] | None = None) -> None:
        self.title = title
        self.cancel_token = CancelToken()
        self._work = work
        self._on_done = on_done
        self._status = JobStatus(title)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"ned: {title}", daemon=True)

    def start(self) -> BackgroundJob:
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.cancel_token.cancel()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def snapshot(self) -> JobStatus:
        with self._lock:
            return JobStatus(**{k: getattr(self._status, k) for k in JobStatus.__dataclass_fields__})

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _progress(self, info: ProgressInfo) -> None:
        with self._lock:
            s = self._status
            s.stage, s.done, s.total, s.message = info.stage, info.done, info.total, info.message

    def _run(self) -> None:
        result: Any = None
        error: BaseException | None = None
        try:
            result = self._work(self._progress, self.cancel_token)
        except BaseException as exc:  # reported to the artist, never raised into the host
            error = exc
        if error is None and self.cancel_token.cancelled:
            error = CallCancelled("cancelled: stopped by the artist", "CANCELLED")
        with self._lock:
            s = self._status
            s.finished, s.result, s.error = True, result, error
            s.cancelled = isinstance(error, CallCancelled)
        if self._on_done is not None:
            try:
                self._on_done(self)
            except Exception as exc:  # a host callback failing must not go unseen
                print(f"ned: finishing {self.title} failed: {exc}", file=sys.stderr)
