"""Writing torch checkpoints so that a kill never leaves half a file where a whole one was.

The server's side of ``ned_plugin.files`` (the one atomic writer), for torch objects.

Both trainers (manipulator and renderer) checkpoint long runs that a render farm may kill at any
moment; resuming must find either the previous checkpoint or the new one, complete.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ned_plugin.files import atomic_path


def atomic_torch_save(obj: object, path: str | Path) -> Path:
    """torch.save through the project's one atomic writer (ned_plugin.files)."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)
