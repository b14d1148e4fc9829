"""Image-sequence paths as pipeline TDs write them: frame ranges and frame-number placeholders.

Placeholders (one or more per pattern; every one gets the same frame):
``####`` (Nuke: one ``#`` per digit), ``@`` / ``@@@@`` (one digit per ``@``), ``%04d`` / ``%d``
(printf), ``$F4`` / ``${F4}`` / ``$F`` (Houdini; ``$F`` alone is unpadded). Padding is a minimum
width, as in every host: frame 12345 in ``####`` is ``12345``. Negative frames follow printf:
``%04d`` of -5 is ``-005``.

Ranges: ``1001-1100``, ``1001-1100x2`` (step), ``1001,1005,1010-1012``, a single ``1001``, negative
frames (``-5--1``); commas or spaces separate parts. A reversed range is refused rather than
silently reversed, since it is almost always a typo in a farm submission; duplicates collapse.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

MAX_FRAMES = 1_000_000  # a range wider than this is a typo, not a shot

_TOKEN = re.compile(
    r"(?P<hash>#+)"
    r"|(?P<at>@+)"
    r"|%(?P<printf>0?\d*)d"
    r"|\$\{F(?P<houdini_braced>\d*)\}"
    r"|\$F(?P<houdini>\d*)(?![A-Za-z_\d])"
)
_RANGE_PART = re.compile(r"^(-?\d+)(?:-(-?\d+)(?:x(\d+))?)?$")


class SequenceError(ValueError):
    """A frame range or sequence pattern that cannot be used; the message says what to fix."""


def parse_frame_range(spec: str) -> list[int]:
    """"1001-1100", "1001-1100x2", "1001,1005,1010-1012" -> sorted unique frame numbers."""
    if not isinstance(spec, str) or not spec.strip():
        raise SequenceError("empty frame range; expected e.g. 1001-1100, 1001-1100x2 or 1001,1005,1010-1012")
    frames: set[int] = set()
    for part in re.split(r"[,\s]+", spec.strip()):
        if not part:
            continue
        m = _RANGE_PART.match(part)
        if not m:
            raise SequenceError(
                f"frame range {spec!r}: cannot read {part!r}; expected FIRST, FIRST-LAST or FIRST-LASTxSTEP"
            )
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else first
        step = int(m.group(3)) if m.group(3) is not None else 1
        if last < first:
            raise SequenceError(f"frame range {spec!r}: {part!r} is reversed; write {last}-{first}")
        if step < 1:
            raise SequenceError(f"frame range {spec!r}: step in {part!r} must be at least 1")
        if (last - first) // step + 1 + len(frames) > MAX_FRAMES:
            raise SequenceError(f"frame range {spec!r} has more than {MAX_FRAMES} frames")
        frames.update(range(first, last + 1, step))
    if not frames:
        raise SequenceError(f"frame range {spec!r} names no frames")
    return sorted(frames)


def format_frame_list(frames: Iterable[int]) -> str:
    """Compact listing for messages: [1003, 1004, 1005, 1010] -> "1003-1005, 1010"."""
    nums = sorted(set(frames))
    parts: list[str] = []
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        parts.append(str(nums[i]) if i == j else f"{nums[i]}-{nums[j]}")
        i = j + 1
    return ", ".join(parts)


def _padding(m: re.Match[str]) -> int:
    if m.group("hash") is not None:
        return len(m.group("hash"))
    if m.group("at") is not None:
        return len(m.group("at"))
    for key in ("printf", "houdini_braced", "houdini"):
        value = m.group(key)
        if value is not None:
            return int(value) if value else 0
    return 0


def has_placeholder(pattern: str) -> bool:
    return _TOKEN.search(str(pattern)) is not None


def _require_placeholder(pattern: str) -> None:
    if not has_placeholder(pattern):
        raise SequenceError(
            f"sequence pattern {pattern!r} has no frame number placeholder; use e.g. plate.####.exr, "
            "plate.%04d.exr, plate.$F4.exr or plate.@@@@.exr"
        )


def expand_pattern(pattern: str | os.PathLike[str], frame: int) -> str:
    """The path of one frame: ``expand_pattern("plate.####.exr", 1001) == "plate.1001.exr"``."""
    pattern = os.fspath(pattern)
    _require_placeholder(pattern)
    return _TOKEN.sub(lambda m: f"{int(frame):0{_padding(m)}d}" if _padding(m) else str(int(frame)), pattern)


def _matcher(pattern: str) -> tuple[str, re.Pattern[str], list[int]]:
    """A glob that finds candidates and a regex that accepts only exact expansions of the pattern."""
    glob_parts: list[str] = []
    regex_parts: list[str] = []
    pads: list[int] = []
    pos = 0
    for m in _TOKEN.finditer(pattern):
        literal = pattern[pos:m.start()]
        glob_parts += [glob.escape(literal), "*"]
        regex_parts += [re.escape(literal), r"(-?\d+)"]
        pads.append(_padding(m))
        pos = m.end()
    glob_parts.append(glob.escape(pattern[pos:]))
    regex_parts.append(re.escape(pattern[pos:]))
    return "".join(glob_parts), re.compile("".join(regex_parts) + r"\Z"), pads


def find_sequence(
    pattern: str | os.PathLike[str],
    frames: str | Sequence[int] | None = None,
    *,
    allow_gaps: bool = False,
) -> list[tuple[int, str]]:
    """(frame, path) pairs of an image sequence on disk, sorted by frame.

    With ``frames`` (a range string or numbers) every named frame must exist. Without, the frames
    are found by globbing; a gap between the first and last frame found is an error unless
    ``allow_gaps``, because a hole in a plate sequence is nearly always a failed render or copy and
    the temporal stages would silently bridge it. Missing frames are listed compactly.
    """
    pattern = os.fspath(pattern)
    _require_placeholder(pattern)
    if frames is not None:
        wanted = parse_frame_range(frames) if isinstance(frames, str) else sorted({int(f) for f in frames})
        found = [(n, expand_pattern(pattern, n)) for n in wanted]
        missing = [n for n, p in found if not os.path.isfile(p)]
        if missing:
            raise SequenceError(
                f"{pattern}: missing {format_frame_list(missing)} "
                f"({len(missing)} of {len(wanted)} frames)"
            )
        return found
    glob_pattern, regex, pads = _matcher(pattern)
    by_frame: dict[int, str] = {}
    for path in glob.glob(glob_pattern):
        m = regex.match(path)
        if not m or not os.path.isfile(path):
            continue
        values = [int(g) for g in m.groups()]
        if len(set(values)) != 1:
            continue
        # only exact expansions: "plate.01001.exr" is not frame 1001 of "plate.####.exr"
        if any((f"{v:0{p}d}" if p else str(v)) != g for v, p, g in zip(values, pads, m.groups())):
            continue
        by_frame[values[0]] = path
    if not by_frame:
        where = Path(pattern).parent
        hint = "" if where.is_dir() else f" (folder {str(where)!r} does not exist)"
        raise SequenceError(f"{pattern}: no frames found{hint}")
    numbers = sorted(by_frame)
    if not allow_gaps:
        missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
        if missing:
            raise SequenceError(
                f"{pattern}: frames {numbers[0]}-{numbers[-1]} found but missing {format_frame_list(missing)}; "
                "render or copy them, or give the frame range to use"
            )
    return [(n, by_frame[n]) for n in numbers]
