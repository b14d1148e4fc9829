"""Progress and cancel between NED's worker thread and a ``nuke.ProgressTask``.

Nuke's ProgressTask is made for worker threads: the thread sets its message and percentage and
polls ``isCancelled()``. A call to the server only reports when the server sends progress, so a
small watcher polls the Cancel button on its own and cancels the gRPC call at once, even while a
long stage (a whole shot's tracking) sends nothing.
"""

from __future__ import annotations

import threading
from typing import Any

from ned_plugin.client import CancelToken, ProgressCallback, ProgressInfo

from .config import CONFIG


class ProgressBridge:
    def __init__(self, task: Any, cancel: CancelToken, poll_s: float = CONFIG.cancel_poll_s) -> None:
        self.task = task
        self.cancel = cancel
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, args=(poll_s,), name="ned: cancel watcher",
                                         daemon=True)
        self._watcher.start()

    def _watch(self, poll_s: float) -> None:
        while not self._stop.wait(poll_s):
            if self.task.isCancelled():
                self.cancel.cancel()
                return

    def __call__(self, info: ProgressInfo) -> None:
        counts = f" {info.done}/{info.total}" if info.total else ""
        self.task.setMessage(f"{info.stage}{counts} {info.message}".strip())
        self.task.setProgress(round(100 * info.fraction))

    def chain(self, other: ProgressCallback | None) -> ProgressCallback:
        def both(info: ProgressInfo) -> None:
            self(info)
            if other is not None:
                other(info)

        return both

    def close(self) -> None:
        self._stop.set()
        self._watcher.join(1.0)
        self.task.setProgress(100)
        self.task = None  # Nuke closes the progress bar when its ProgressTask goes away
