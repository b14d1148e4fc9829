"""The project's one atomic file writer: a kill never leaves half a file where a whole one was.

Plates, checkpoints, tracks, clips and JSON are read by other processes (a compositor's Read node,
a resumed job, another farm task), so each is written to a temporary file beside its target (same
file system, so the rename is one step), flushed to disk, then renamed over it. It lives in the
media core because both sides write such files and the host side must not import the server.

The temporary file is not mkstemp's: its 0600 mode would make checkpoints and plates unreadable
to a render farm's other users; the umask decides, as for any file the user writes. Its name keeps
the target's extension, because some writers choose the format by it (OpenImageIO) or append one
otherwise (``numpy.savez``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_name(path: Path) -> Path:
    """A unique hidden name beside ``path``, ending in the same extension."""
    return path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; when the block ends without error it replaces ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(target)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))
