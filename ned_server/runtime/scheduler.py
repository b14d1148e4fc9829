"""Fair access to the device: requests queue in arrival order instead of failing when it is busy.

A GPU runs one heavy request well and several badly, so device work takes a slot; the rest wait
in FIFO order. Only when the queue itself is full does a request get RESOURCE_EXHAUSTED, with a
retry hint, so a burst from a render farm degrades into waiting rather than into errors.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ned_server.errors import Busy, Cancelled


class DeviceScheduler:
    def __init__(self, slots: int = 1, max_waiting: int = 32, retry_after_s: float = 5.0) -> None:
        self.slots = slots
        self.max_waiting = max_waiting
        self.retry_after_s = retry_after_s
        self._cond = threading.Condition()
        self._queue: deque[object] = deque()
        self._active = 0

    @property
    def active(self) -> int:
        return self._active

    @property
    def waiting(self) -> int:
        return len(self._queue)

    @contextmanager
    def slot(self, cancelled: Callable[[], bool] = lambda: False) -> Iterator[None]:
        """Hold a device slot for the ``with`` body; ``cancelled`` is polled while waiting."""
        ticket = object()
        with self._cond:
            if self._active >= self.slots and len(self._queue) >= self.max_waiting:
                raise Busy(
                    f"the server is busy ({self._active} running, {len(self._queue)} waiting); "
                    f"retry in {self.retry_after_s:g} s",
                    retry_after=self.retry_after_s,
                )
            self._queue.append(ticket)
            try:
                while not (self._active < self.slots and self._queue[0] is ticket):
                    if cancelled():
                        raise Cancelled("cancelled while waiting for the device")
                    self._cond.wait(0.05)
            except BaseException:
                self._queue.remove(ticket)
                self._cond.notify_all()
                raise
            self._queue.popleft()
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()
