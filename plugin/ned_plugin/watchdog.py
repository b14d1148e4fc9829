"""Bounding the idle time of a long gRPC stream, not its total time.

A Track of a thousand 4K frames may rightly take an hour, so a total deadline is either too short
for it or useless for a short shot. What a frozen server cannot do is keep talking: a live one
sends a message at least every few seconds (progress, plates, or a heartbeat while it waits for
the device), and the client sends frames as fast as flow control lets it. The watchdog cancels the
call when nothing moved either way for ``idle_s``; the client then reports a frozen server instead
of hanging the artist's host. (A dead connection is caught sooner by gRPC's keepalive pings.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from typing import Protocol, TypeVar

T = TypeVar("T")


class _Cancellable(Protocol):
    def cancel(self) -> bool: ...


class IdleWatchdog:
    """``touch()`` on every message; ``attach(call)`` once the call exists; ``close()`` at the end."""

    def __init__(self, idle_s: float, poll_s: float = 0.2) -> None:
        self.idle_s = idle_s
        self.expired = False
        self._poll_s = min(poll_s, max(idle_s / 4, 0.01))
        self._last = time.monotonic()
        self._call: _Cancellable | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ned-idle-watchdog", daemon=True)

    def attach(self, call: _Cancellable) -> None:
        self._call = call
        self.touch()
        self._thread.start()

    def touch(self) -> None:
        self._last = time.monotonic()

    def watch(self, items: Iterable[T]) -> Iterator[T]:
        """``items``, touching the watchdog as each one passes (wrap the requests with this)."""
        for item in items:
            self.touch()
            yield item
            self.touch()

    def close(self) -> None:
        self._done.set()

    def _run(self) -> None:
        while not self._done.wait(self._poll_s):
            if time.monotonic() - self._last > self.idle_s:
                self.expired = True
                if self._call is not None:
                    self._call.cancel()
                return
