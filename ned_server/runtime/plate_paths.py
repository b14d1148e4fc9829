"""Reading a client's plate files in place, only under the folders this server trusts.

On a farm the plates already sit on storage the server mounts, so sending their bytes over gRPC
costs a copy through the socket for nothing. A client may then name a frame by path (with the
size, modification time and CRC-32 it saw); this module reads it, under three rules:

* only under the roots the operator configured (``--read-root``; none by default, so a server
  never reads a client's paths unless told to);
* links are resolved first and the file actually opened is checked again (``/proc/self/fd``), so a
  link inside a root that points outside it, or a folder swapped for a link between the check and
  the open, is refused rather than followed;
* the file must still be the one the client hashed (size, mtime, CRC-32), else a frame rendered
  from a plate someone re-rendered meanwhile would come back silently wrong.

Every refusal is an ``InPlaceRefused`` with a message naming the frame and what to do; the client
then streams the bytes instead. Nothing is stored before every frame of a shot has been read.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from ned_plugin.chunks import crc32
from ned_plugin.plate_files import PlateFileRef
from ned_server.errors import InPlaceRefused

_PROC_FD = Path("/proc/self/fd")


def resolve_roots(roots: Sequence[str | Path]) -> tuple[Path, ...]:
    """The configured roots, resolved once (a root that is itself a link is trusted as its target)."""
    return tuple(Path(os.path.realpath(r)) for r in roots)


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def read_in_place(ref: PlateFileRef, roots: Sequence[Path], max_bytes: int) -> bytes:
    """The bytes of the file ``ref`` names, checked against the roots and against what the client saw."""
    label = f"frame {ref.frame}"
    if not roots:
        raise InPlaceRefused(f"{label}: this server reads no plates in place (it was started without "
                             "--read-root); the client must send the frames' bytes", "PERMISSION_DENIED")
    if not ref.path or not os.path.isabs(ref.path):
        raise InPlaceRefused(f"{label}: plate path {ref.path!r} is not absolute", "INVALID_ARGUMENT")
    named = Path(os.path.normpath(ref.path))
    resolved = Path(os.path.realpath(named))
    where = ", ".join(str(r) for r in roots)
    if not _inside(resolved, roots):
        via = f" (it resolves to {resolved})" if resolved != named else ""
        raise InPlaceRefused(f"{label}: {named}{via} is outside the folders this server reads plates from "
                             f"({where}); send the bytes or add a --read-root", "PERMISSION_DENIED")
    try:
        fd = os.open(resolved, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InPlaceRefused(f"{label}: {named} does not exist on the server", "NOT_FOUND") from None
    except OSError as exc:
        raise InPlaceRefused(f"{label}: the server cannot open {named}: {exc.strerror or exc}",
                             "PERMISSION_DENIED") from None
    with os.fdopen(fd, "rb") as fh:
        if _PROC_FD.is_dir():  # what was really opened, whatever happened to the path meanwhile
            opened = Path(os.readlink(_PROC_FD / str(fh.fileno())))
            if not _inside(opened, roots):
                raise InPlaceRefused(f"{label}: {named} led outside the folders this server reads plates "
                                     f"from ({where}) when it was opened", "PERMISSION_DENIED")
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise InPlaceRefused(f"{label}: {named} is not a regular file", "INVALID_ARGUMENT")
        if info.st_size > max_bytes:
            raise InPlaceRefused(f"{label}: {named} is {info.st_size} bytes, more than the server's limit of "
                                 f"{max_bytes} bytes per frame", "INVALID_ARGUMENT")
        changed = _changed(ref, info.st_size, info.st_mtime_ns)
        if changed:
            raise InPlaceRefused(f"{label}: {named} changed since the client hashed it ({changed}); "
                                 "its bytes are sent instead")
        data = fh.read()
    if len(data) != ref.size or crc32(data) != ref.crc32:
        raise InPlaceRefused(f"{label}: {named} changed since the client hashed it (checksum differs); "
                             "its bytes are sent instead")
    return data


def _changed(ref: PlateFileRef, size: int, mtime_ns: int) -> str:
    if size != ref.size:
        return f"size {size} bytes, the client saw {ref.size}"
    if mtime_ns != ref.mtime_ns:
        return "modification time differs"
    return ""
