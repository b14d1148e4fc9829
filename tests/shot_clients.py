"""Clients sending the synthetic test shot, for the reliability tests and the soak benchmark.

A shot is made once (tests/pipeline_assets.synthetic_shot) and sent under other frame numbers to
make as many different shots as a test needs: the same pixels, so every one must track to the same
result (the reference), yet other content, so each is a shot of its own on the server.
"""

from __future__ import annotations

import faulthandler
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager

import numpy as np

from ned_plugin.client import ConnectionSettings, NedClient, NedClientError
from ned_plugin.wire import pb


def renumbered(shot, first: int) -> list[tuple[int, bytes]]:  # type: ignore[no-untyped-def]
    """The shot's plates, numbered from ``first``."""
    return [(n - shot.first + first, data) for n, data in shot.frames]


def track_settings(shot, first: int | None = None, drop: Iterable[int] = (), **kw: object) -> pb.TrackSettings:  # type: ignore[no-untyped-def]
    """Track settings announcing the shot's frames, with its landmarks (numbered from ``first``)."""
    s = pb.TrackSettings(frame_count=len(shot.frames), **kw)
    offset = 0 if first is None else first - shot.first
    skip = set(drop)
    for frame, pts in shot.landmarks.items():
        if frame not in skip:
            s.landmarks.add(frame=frame + offset, points=np.asarray(pts).reshape(-1).tolist())
    return s


def expressions(result) -> np.ndarray:  # type: ignore[no-untyped-def]
    """A Track result's per-frame expression vectors, (frames, 51)."""
    return np.array([f.expression for f in result.frames])


def concurrent_tracks(address: str, shot, round_no: int, clients: int = 8,  # type: ignore[no-untyped-def]
                      timeout_s: float = 180.0) -> list[tuple[object, float]]:
    """``clients`` Track calls at once, each on its own connection; (result or error, seconds) for each.

    Clients 0 and 1 send the very same shot (farm chunks of one shot arriving together); the others
    send shots of their own. Frame numbers depend on ``round_no``, so each round is new work. A
    round still running after ``timeout_s`` raises TimeoutError (streams have no deadline of their
    own), after dumping every thread's stack to stderr.
    """
    start = threading.Barrier(clients)

    def one(k: int) -> tuple[object, float]:
        first = 100_000 * (round_no + 1) + 1000 * max(k, 1)
        with NedClient(ConnectionSettings(address=address, deadline_s=120)) as c:
            start.wait(60)
            t0 = time.perf_counter()
            try:
                result: object = c.track(renumbered(shot, first), track_settings(shot, first))
            except NedClientError as exc:
                result = exc
            return result, time.perf_counter() - t0

    pool = ThreadPoolExecutor(clients, thread_name_prefix="ned-client")
    try:
        futures = [pool.submit(one, k) for k in range(clients)]
        _done, pending = wait(futures, timeout=timeout_s)
        if pending:
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
            raise TimeoutError(f"{len(pending)} of {clients} Track calls still running after {timeout_s:g} s")
        return [f.result() for f in futures]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


@contextmanager
def watchdog(seconds: float) -> Iterator[None]:
    """Dump every thread's stack to stderr if the block is still running after ``seconds``: streams
    have no deadline (a shot takes what it takes), so a hang would otherwise say nothing about where."""
    faulthandler.dump_traceback_later(seconds, exit=False, file=sys.stderr)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
