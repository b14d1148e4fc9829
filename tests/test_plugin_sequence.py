"""Frame lists and image-sequence patterns as pipeline TDs write them (ned_plugin.sequence, on fileseq)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ned_plugin.sequence import (
    SequenceError,
    expand_pattern,
    find_sequence,
    format_frame_list,
    has_placeholder,
    is_contiguous,
    output_frames,
    parse_frame_range,
)


@pytest.mark.parametrize(("spec", "frames"), [
    ("1001-1005", [1001, 1002, 1003, 1004, 1005]),
    ("1001-1010x3", [1001, 1004, 1007, 1010]),
    ("1001,1005,1010-1012", [1001, 1005, 1010, 1011, 1012]),
    ("1001", [1001]),
    (" 1001-1002 ", [1001, 1002]),
    ("1005, 1001-1003 1002", [1001, 1002, 1003, 1005]),  # spaces separate too; duplicates collapse
    ("-3--1", [-3, -2, -1]),
    ("-2-1", [-2, -1, 0, 1]),
    ("1001,1050", [1001, 1050]),
])
def test_parse_frame_range(spec: str, frames: list[int]) -> None:
    assert parse_frame_range(spec) == frames


@pytest.mark.parametrize(("spec", "message"), [
    ("1100-1001", r"'1100-1001' is reversed; write 1001-1100"),
    ("1001-1100x0", "step"),
    ("", "empty frame range"),
    ("1001-", "cannot read '1001-'"),
    ("a-b", "cannot read 'a-b'"),
    ("1001..1100", "cannot read"),
    ("1-99999999", "more than"),
    ("1-2x0.5", "sub-frames|cannot read"),
])
def test_bad_frame_ranges(spec: str, message: str) -> None:
    with pytest.raises(SequenceError, match=message):
        parse_frame_range(spec)


@pytest.mark.parametrize(("pattern", "expected"), [
    ("plate.####.exr", "plate.0042.exr"),
    ("plate.#.exr", "plate.42.exr"),
    ("plate.%04d.exr", "plate.0042.exr"),
    ("plate.%d.exr", "plate.42.exr"),
    ("plate.$F4.exr", "plate.0042.exr"),
    ("plate.$F.exr", "plate.42.exr"),
    ("plate.@@@@.exr", "plate.0042.exr"),
    ("plate.@.exr", "plate.42.exr"),
    ("$FPS/plate.###.exr", "$FPS/plate.042.exr"),  # $FPS is another Houdini variable, not a frame
    ("sh010/v001/plate.####.exr", "sh010/v001/plate.0042.exr"),
])
def test_expand_pattern_conventions(pattern: str, expected: str) -> None:
    assert expand_pattern(pattern, 42) == expected


@pytest.mark.parametrize(("pattern", "message"), [
    ("plate.${F4}.exr", r"write Houdini's \$\{F4\} as \$F4"),
    ("sh010/####/plate.####.exr", "file name only, not in the folder"),
    ("sh010/####/plate.exr", "no frame number placeholder .the frame number goes in the file name"),
])
def test_placeholders_outside_the_file_name_are_refused(pattern: str, message: str) -> None:
    with pytest.raises(SequenceError, match=message):
        expand_pattern(pattern, 1)
    assert not has_placeholder(pattern)


def test_frame_lists_are_honoured_not_widened() -> None:
    every_other = parse_frame_range("1001-1100x2")
    assert len(every_other) == 50 and every_other[:2] == [1001, 1003] and every_other[-1] == 1099
    assert not is_contiguous(every_other) and is_contiguous(parse_frame_range("1001-1100"))
    # what is asked of the server: the list's own frames out of its span, or [] for "all of it"
    assert output_frames(every_other, 1001, 1099) == every_other
    assert output_frames([1001, 1050], 1001, 1050) == [1001, 1050]
    assert output_frames(range(1001, 1101), 1001, 1100) == []
    assert output_frames([], 1001, 1100) == []
    with pytest.raises(SequenceError, match=r"1200 are outside the range 1001-1100"):
        output_frames([1001, 1200], 1001, 1100)


def test_padding_is_a_minimum_and_negative_frames_follow_printf() -> None:
    assert expand_pattern("p.####.exr", 123456) == "p.123456.exr"
    assert expand_pattern("p.####.exr", -5) == "p.-005.exr"
    assert expand_pattern(Path("p.%04d.exr"), 7) == "p.0007.exr"
    with pytest.raises(SequenceError, match="no frame number placeholder"):
        expand_pattern("plate.exr", 1)


def test_format_frame_list() -> None:
    assert format_frame_list([1010, 1003, 1004, 1005]) == "1003-1005, 1010"
    assert format_frame_list([7]) == "7"
    assert format_frame_list([]) == ""
    assert format_frame_list(range(1001, 1101, 2)) == "1001-1099x2"


def _touch(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")


def test_find_sequence_by_globbing_only_exact_expansions(tmp_path: Path) -> None:
    folder = tmp_path / "[sh010] plates"  # glob metacharacters in the folder name
    _touch(folder, [f"plate.{n:04d}.exr" for n in range(998, 1003)] + [
        "plate.01000.exr", "plate.1001.exr.bak", "plate.abcd.exr", "plate.999.exr", "other.1001.exr",
        "plate.1000x.exr",
    ])
    found = find_sequence(str(folder / "plate.####.exr"))
    assert [n for n, _ in found] == [998, 999, 1000, 1001, 1002]
    assert found[0][1] == str(folder / "plate.0998.exr")
    assert find_sequence(folder / "plate.%04d.exr") == found
    assert find_sequence(str(folder / "plate.$F4.exr")) == found


def test_unpadded_sequences(tmp_path: Path) -> None:
    _touch(tmp_path, ["a.8.exr", "a.9.exr", "a.10.exr", "a.011.exr"])
    assert [n for n, _ in find_sequence(str(tmp_path / "a.$F.exr"))] == [8, 9, 10]


def test_gaps_are_listed_compactly(tmp_path: Path) -> None:
    _touch(tmp_path, [f"p.{n}.exr" for n in (1001, 1002, 1006, 1007, 1009)])
    with pytest.raises(SequenceError, match=r"frames 1001-1009 found but missing 1003-1005, 1008"):
        find_sequence(str(tmp_path / "p.####.exr"))
    assert [n for n, _ in find_sequence(str(tmp_path / "p.####.exr"), allow_gaps=True)] == [1001, 1002, 1006, 1007,
                                                                                            1009]


def test_named_frames_must_all_exist(tmp_path: Path) -> None:
    _touch(tmp_path, [f"p.{n}.exr" for n in range(1001, 1011) if n not in (1003, 1004, 1005, 1010)])
    pattern = str(tmp_path / "p.####.exr")
    assert [n for n, _ in find_sequence(pattern, "1001-1002,1006")] == [1001, 1002, 1006]
    assert [n for n, _ in find_sequence(pattern, [1002, 1001])] == [1001, 1002]
    with pytest.raises(SequenceError, match=r"missing 1003-1005, 1010 \(4 of 10 frames\)"):
        find_sequence(pattern, "1001-1010")


def test_nothing_found(tmp_path: Path) -> None:
    with pytest.raises(SequenceError, match="no frames found"):
        find_sequence(str(tmp_path / "p.####.exr"))
    with pytest.raises(SequenceError, match="does not exist"):
        find_sequence(str(tmp_path / "nope" / "p.####.exr"))
    with pytest.raises(SequenceError, match="no frame number placeholder"):
        find_sequence(str(tmp_path / "p.exr"))
