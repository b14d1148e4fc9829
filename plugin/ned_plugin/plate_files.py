"""A shot's plates as files on disk, and the facts that let a server read one in place.

On a farm the client and the server see the same storage, so a plate need not cross the socket:
the client names the file with its size, modification time and CRC-32, and the server reads it
itself (only under folders it trusts, see ned_server/plate_paths.py) and checks that the three
still match, so it never renders a plate other than the one the artist meant. Where the server
cannot read a path (a laptop's local disk, a folder outside its roots) the bytes are streamed as
before. Both ends import this module (media core): the reference is one plain dataclass.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .chunks import crc32


@dataclass(frozen=True)
class PlateFileRef:
    """One frame named by path: what the client saw when it hashed the file."""

    frame: int
    path: str
    size: int
    mtime_ns: int
    crc32: int


def describe_file(frame: int, path: str | Path) -> PlateFileRef:
    """Stat and checksum a plate file as the client sees it (reads the file once)."""
    absolute = os.path.abspath(path)
    with open(absolute, "rb") as fh:
        stat = os.fstat(fh.fileno())
        if stat.st_size == 0:
            return PlateFileRef(frame, absolute, 0, stat.st_mtime_ns, crc32(b""))
        # Checksummed straight from the page cache: the client never needs the bytes themselves.
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped, memoryview(mapped) as view:
            checksum = crc32(view)
    return PlateFileRef(frame, absolute, stat.st_size, stat.st_mtime_ns, checksum)


def under_roots(path: str | Path, roots: Sequence[str]) -> bool:
    """True when ``path``, with its links resolved, lies inside one of ``roots`` (also resolved).

    The client asks this before naming a file by path; the server checks again on its side and is
    the one that decides (it trusts nothing the client says about a path).
    """
    if not roots:
        return False
    resolved = Path(os.path.realpath(path))
    return any(resolved.is_relative_to(os.path.realpath(root)) for root in roots)


class PlateFiles:
    """A shot's frames as ``(frame, path)`` pairs, in the order to send.

    Iterating yields ``(frame, bytes)`` like any frame source, so callers that stream bytes need no
    change; a client that knows the server's read roots names the files instead. It can be iterated
    again, which the client does when a server refuses a path and the bytes must go after all.
    """

    def __init__(self, files: Sequence[tuple[int, str | Path]]) -> None:
        self.files = [(int(n), Path(p)) for n, p in files]

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        for number, path in self.files:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise OSError(f"cannot read frame {number} ({path}): {exc.strerror or exc}") from None
            yield number, data
