"""Image-sequence paths and frame lists as pipeline TDs write them, on the ``fileseq`` package.

Placeholders (in the file name; every host's convention): ``####`` (Nuke: one ``#`` per digit),
``@`` / ``@@@@`` (one digit per ``@``), ``%04d`` / ``%d`` (printf), ``$F4`` / ``$F`` (Houdini;
``$F`` alone is unpadded). Padding is a minimum width, as in every host: frame 12345 in ``####``
is ``12345``. Negative frames follow printf: ``%04d`` of -5 is ``-005``.

Frame lists (fileseq's FrameSet grammar): ``1001-1100``, ``1001-1100x2`` (every 2nd frame),
``1001,1005,1010-1012``, a single ``1001``, negative frames (``-5--1``); commas or spaces separate
parts. A reversed range is refused rather than silently reversed, since it is almost always a typo
in a farm submission; duplicates collapse. A list is honoured as given: the frames between its
members are context for the temporal stages (see ``output_frames``), never extra output.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import fileseq

MAX_FRAMES = 1_000_000  # a range wider than this is a typo, not a shot
_PAD_STYLE = fileseq.PAD_STYLE_HASH1  # Nuke's: "#" is one digit, "####" four
_FOLDER_TOKEN = re.compile(r"#|@|%0?\d*d")
_EXPECTED = "expected e.g. 1001-1100, 1001-1100x2 or 1001,1005,1010-1012"


class SequenceError(ValueError):
    """A frame range or sequence pattern that cannot be used; the message says what to fix."""


# ============================================================================ frame lists
def _frame_set(part: str, spec: str) -> fileseq.FrameSet:
    try:
        frames = fileseq.FrameSet(part)
    except fileseq.MaxSizeException:
        raise SequenceError(f"frame range {spec!r} has more than {MAX_FRAMES} frames") from None
    except fileseq.ParseException as exc:
        if "chunk" in str(exc):
            raise SequenceError(f"frame range {spec!r}: step in {part!r} must be at least 1") from None
        raise SequenceError(f"frame range {spec!r}: cannot read {part!r}; expected FIRST, FIRST-LAST or "
                            "FIRST-LASTxSTEP") from None
    if frames.hasSubFrames():
        raise SequenceError(f"frame range {spec!r}: {part!r} names sub-frames; frames are whole numbers")
    return frames


def parse_frame_range(spec: str) -> list[int]:
    """"1001-1100", "1001-1100x2", "1001,1005,1010-1012" -> sorted unique frame numbers."""
    if not isinstance(spec, str) or not spec.strip():
        raise SequenceError(f"empty frame range; {_EXPECTED}")
    frames: set[int] = set()
    for part in filter(None, re.split(r"[,\s]+", spec.strip())):
        parsed = _frame_set(part, spec)
        if len(parsed) > 1 and parsed.start() > parsed.end():
            raise SequenceError(f"frame range {spec!r}: {part!r} is reversed; write {parsed.end()}-{parsed.start()}")
        frames.update(int(f) for f in parsed)
        if len(frames) > MAX_FRAMES:
            raise SequenceError(f"frame range {spec!r} has more than {MAX_FRAMES} frames")
    if not frames:
        raise SequenceError(f"frame range {spec!r} names no frames")
    return sorted(frames)


def format_frame_list(frames: Iterable[int]) -> str:
    """Compact listing for messages: [1003, 1004, 1005, 1010] -> "1003-1005, 1010"."""
    nums = sorted({int(f) for f in frames})
    if not nums:
        return ""
    return fileseq.FrameSet.framesToFrameRange(nums, sort=False, compress=True).replace(",", ", ")


def is_contiguous(frames: Sequence[int]) -> bool:
    """Whether sorted unique ``frames`` are every frame from the first to the last."""
    return not frames or len(frames) == frames[-1] - frames[0] + 1


def output_frames(frames: Iterable[int], first: int, last: int) -> list[int]:
    """The frames to ask for out of first..last: [] when that is all of them (the wire's "every frame").

    A frame list like ``1001-1100x2`` is sent as the range 1001..1099 (the temporal stages need
    every frame in between as context) plus these output frames; a listed frame outside the range
    is refused, never dropped.
    """
    wanted = sorted({int(f) for f in frames})
    if not wanted:
        return []
    outside = [f for f in wanted if not first <= f <= last]
    if outside:
        raise SequenceError(f"frame(s) {format_frame_list(outside)} are outside the range {first}-{last}")
    return [] if len(wanted) == last - first + 1 else wanted


# ============================================================================ patterns
def _file_sequence(pattern: str | os.PathLike[str]) -> tuple[str, fileseq.FileSequence]:
    return _parsed(os.fspath(pattern))


@functools.lru_cache(maxsize=256)
def _parsed(text: str) -> tuple[str, fileseq.FileSequence]:
    """The pattern's folder and a FileSequence of its file name (fileseq reads only the name's placeholder).

    Cached: fileseq takes milliseconds to parse a pattern and a shot expands it once per frame;
    the FileSequence is only read from (``frame()``), never changed.
    """
    folder, name = os.path.split(text)
    if "${F" in name:
        raise SequenceError(f"sequence pattern {text!r}: write Houdini's ${{F4}} as $F4")
    try:
        seq = fileseq.FileSequence(name, pad_style=_PAD_STYLE, allow_subframes=False)
    except fileseq.ParseException:
        seq = None
    if seq is None or not seq.padding():
        hint = (" (the frame number goes in the file name, not the folder)"
                if _FOLDER_TOKEN.search(folder) else "")
        raise SequenceError(
            f"sequence pattern {text!r} has no frame number placeholder{hint}; use e.g. plate.####.exr, "
            "plate.%04d.exr, plate.$F4.exr or plate.@@@@.exr"
        )
    if _FOLDER_TOKEN.search(folder):
        raise SequenceError(f"sequence pattern {text!r}: the frame number placeholder goes in the file name only, "
                            "not in the folder")
    return folder, seq


def has_placeholder(pattern: str) -> bool:
    try:
        _file_sequence(pattern)
    except SequenceError:
        return False
    return True


def expand_pattern(pattern: str | os.PathLike[str], frame: int) -> str:
    """The path of one frame: ``expand_pattern("plate.####.exr", 1001) == "plate.1001.exr"``."""
    folder, seq = _file_sequence(pattern)
    return os.path.join(folder, seq.frame(int(frame)))


def _frames_on_disk(folder: str, seq: fileseq.FileSequence) -> dict[int, str]:
    """Files in ``folder`` that are exact expansions of the pattern: "plate.01001.exr" is not frame
    1001 of "plate.####.exr" (listed, not globbed, so folder names may hold glob characters)."""
    head, tail = seq.basename(), seq.extension()
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return {}
    found: dict[int, str] = {}
    for name in names:
        middle = name[len(head):len(name) - len(tail)] if name.startswith(head) and name.endswith(tail) else ""
        if not re.fullmatch(r"-?\d+", middle):
            continue
        number = int(middle)
        path = os.path.join(folder, name)
        if seq.frame(number) == name and os.path.isfile(path):
            found[number] = path
    return found


def find_sequence(
    pattern: str | os.PathLike[str],
    frames: str | Sequence[int] | None = None,
    *,
    allow_gaps: bool = False,
) -> list[tuple[int, str]]:
    """(frame, path) pairs of an image sequence on disk, sorted by frame.

    With ``frames`` (a range string or numbers) every named frame must exist. Without, the frames
    are found in the folder; a gap between the first and last frame found is an error unless
    ``allow_gaps``, because a hole in a plate sequence is nearly always a failed render or copy and
    the temporal stages would silently bridge it. Missing frames are listed compactly.
    """
    text = os.fspath(pattern)
    folder, seq = _file_sequence(text)
    if frames is not None:
        wanted = parse_frame_range(frames) if isinstance(frames, str) else sorted({int(f) for f in frames})
        found = [(n, os.path.join(folder, seq.frame(n))) for n in wanted]
        missing = [n for n, p in found if not os.path.isfile(p)]
        if missing:
            raise SequenceError(
                f"{text}: missing {format_frame_list(missing)} "
                f"({len(missing)} of {len(wanted)} frames)"
            )
        return found
    by_frame = _frames_on_disk(folder, seq)
    if not by_frame:
        where = Path(text).parent
        hint = "" if where.is_dir() else f" (folder {str(where)!r} does not exist)"
        raise SequenceError(f"{text}: no frames found{hint}")
    numbers = sorted(by_frame)
    if not allow_gaps:
        missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
        if missing:
            raise SequenceError(
                f"{text}: frames {numbers[0]}-{numbers[-1]} found but missing {format_frame_list(missing)}; "
                "render or copy them, or give the frame range to use"
            )
    return [(n, by_frame[n]) for n in numbers]
