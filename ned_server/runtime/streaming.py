"""Running a long pipeline call in a worker thread while its caller streams what it reports.

A server-streaming RPC must send progress while tracking or rendering runs, but the stages report
through plain callbacks deep inside their loops. The work runs in its own thread and ``emit``s
events into a small bounded queue that the RPC thread drains and sends. The bound gives
back-pressure (a slow client slows the renderer down instead of piling plates up in memory), and
when the caller goes away (client cancelled or disconnected) the next ``emit`` raises Cancelled, so
the work stops at its next step and frees the device.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ned_server.errors import Cancelled

Emit = Callable[[Any], None]


class Heartbeat:
    """Yielded when the work had nothing to report for ``heartbeat_s``: the RPC sends a heartbeat so the
    client can tell a busy server (queued for the device, a slow stage) from a frozen one."""


HEARTBEAT = Heartbeat()


@dataclass
class _Finished:
    result: Any


@dataclass
class _Failed:
    error: BaseException


class EventStream:
    """Iterate to get the events ``work(emit, stopped)`` emits; ``result`` holds what it returned."""

    def __init__(self, work: Callable[[Emit, Callable[[], bool]], Any], caller_gone: Callable[[], bool],
                 name: str = "ned-work", max_pending: int = 16, heartbeat_s: float | None = None) -> None:
        self._work = work
        self.heartbeat_s = heartbeat_s
        self._caller_gone = caller_gone
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_pending)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.result: Any = None

    def stopped(self) -> bool:
        return self._stop.is_set() or self._caller_gone()

    def _emit(self, event: Any) -> None:
        while True:
            if self.stopped():
                raise Cancelled("the request was cancelled")
            try:
                self._queue.put(event, timeout=0.1)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        try:
            outcome: Any = _Finished(self._work(self._emit, self.stopped))
        except BaseException as exc:  # handed to the caller's thread, which raises it
            outcome = _Failed(exc)
        while not self._stop.is_set():
            try:
                self._queue.put(outcome, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[Any]:
        self._thread.start()
        last = time.monotonic()
        try:
            while True:
                try:
                    item = self._queue.get(timeout=0.1)
                except queue.Empty:
                    if self._caller_gone():
                        self._stop.set()
                        raise Cancelled("the client went away") from None
                    if self.heartbeat_s is not None and time.monotonic() - last >= self.heartbeat_s:
                        last = time.monotonic()
                        yield HEARTBEAT
                    continue
                last = time.monotonic()
                if isinstance(item, _Finished):
                    self.result = item.result
                    return
                if isinstance(item, _Failed):
                    raise item.error
                yield item
        finally:
            self._stop.set()  # a consumer that stops early (or fails) stops the work too
