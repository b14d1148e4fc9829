"""Writing torch checkpoints so that a kill never leaves half a file where a whole one was.

Both trainers (manipulator and renderer) checkpoint long runs that a render farm may kill at any
moment; resuming must find either the previous checkpoint or the new one, complete.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import torch


def temporary_name(path: Path) -> Path:
    """A unique name beside ``path``. Not mkstemp: its 0600 mode would make checkpoints unreadable to
    a render farm's other users."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """torch.save to a temporary file in the same folder, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        with open(tmp, "xb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
