"""Keeping the server's resident memory flat under many concurrent requests.

Every request runs on threads of its own (the RPC thread and the worker that streams its events),
and glibc gives each new thread that allocates while others do an arena of its own, up to eight per
core, each keeping the memory freed into it. A server that answers bursts of clients therefore
grows for a long while before it levels off: measured here, 8 clients at a time took it from 515
to over 700 MiB across twelve rounds, against a flat 445 MiB with the arenas capped. Capping them is
what long-running Python servers commonly do (MALLOC_ARENA_MAX); it must happen before the threads
exist, so ``ned-server`` does it first thing. An explicit MALLOC_ARENA_MAX in the environment wins.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger(__name__)
M_ARENA_MAX = -8  # glibc's mallopt parameter number
DEFAULT_ARENAS = 4


def limit_malloc_arenas(arenas: int = DEFAULT_ARENAS) -> bool:
    """Cap glibc's malloc arenas for threads created from now on; False where that is not glibc."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False  # glibc read it at start-up already
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl, macOS: no mallopt, and no per-thread arenas to cap
        return False
    ok = bool(mallopt(M_ARENA_MAX, int(arenas)))
    if not ok:
        log.debug("mallopt(M_ARENA_MAX, %d) was refused", arenas)
    return ok
