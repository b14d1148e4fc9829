"""How long work is told to stop: a threading.Event or a callable, polled between steps."""

from __future__ import annotations

import threading
from collections.abc import Callable

CancelFlag = threading.Event | Callable[[], bool] | None


def is_cancelled(flag: CancelFlag) -> bool:
    if flag is None:
        return False
    if isinstance(flag, threading.Event):
        return flag.is_set()
    return bool(flag())
