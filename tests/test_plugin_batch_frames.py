"""`ned track / manipulate / extract-style --frames` honour frame lists, against a fake server over gRPC.

A list such as ``1001-1100x2`` renders its 50 frames, ``1001,1050`` its two: the frames between are
sent as the temporal stages' context, and only the listed plates come back (and are written).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ned_plugin.cli import main
from tests.nodes_fakes.fake_server import FakeNed, serve, write_plates


@pytest.fixture(scope="module")
def plates(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_plates(tmp_path_factory.mktemp("plates"), 1001, 1100, width=16, height=12)


@pytest.fixture
def fake():
    servicer = FakeNed()
    with serve(servicer) as address:
        servicer.address = address
        yield servicer


def ned(fake: FakeNed, *args: str) -> int:
    return main([*args, "--server", fake.address, "--progress", "none"])


def written(folder: Path) -> list[int]:
    return sorted(int(p.name.split(".")[1]) for p in folder.glob("out.*.exr"))


def test_a_stepped_list_renders_its_50_frames(fake, plates, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.####.exr"
    assert ned(fake, "manipulate", plates, "--actor", "anna", "--emotion", "happy", "--frames", "1001-1100x2",
               "--output", str(out)) == 0
    assert written(tmp_path) == list(range(1001, 1100, 2))
    assert "wrote 50 plates" in capsys.readouterr().out
    sent = fake.recorded.manipulate_settings[-1]
    assert (sent.range.first, sent.range.last) == (1001, 1099)
    assert list(sent.output_frames) == list(range(1001, 1100, 2))
    # the frames in between went too: the tracker, the manipulator's windows and the renderer need them
    assert fake.recorded.frames_sent["Manipulate"] == [list(range(1001, 1100))]


def test_two_listed_frames_render_two_even_from_a_server_that_returns_more(fake, plates, tmp_path: Path) -> None:
    fake.honour_output_frames = False  # an older server: every frame of the range comes back
    out = tmp_path / "out.####.exr"
    assert ned(fake, "manipulate", plates, "--actor", "anna", "--frames", "1001,1050", "--output", str(out)) == 0
    assert written(tmp_path) == [1001, 1050]
    assert list(fake.recorded.manipulate_settings[-1].output_frames) == [1001, 1050]


def test_a_whole_range_asks_for_every_frame(fake, plates, tmp_path: Path) -> None:
    assert ned(fake, "manipulate", plates, "--actor", "anna", "--frames", "1001-1004", "--output",
               str(tmp_path / "out.####.exr")) == 0
    assert written(tmp_path) == [1001, 1002, 1003, 1004]
    assert list(fake.recorded.manipulate_settings[-1].output_frames) == []  # empty = all, as before


def test_track_with_a_list_tracks_its_span_and_writes_the_listed_frames(fake, plates, tmp_path: Path,
                                                                         capsys) -> None:
    out = tmp_path / "track.json"
    assert ned(fake, "track", plates, "--frames", "1001-1010x3", "--shot-id", "sh010", "--out", str(out)) == 0
    assert fake.recorded.frames_sent["Track"] == [list(range(1001, 1011))]
    doc = json.loads(out.read_text())
    assert [int(f["frame"]) for f in doc["frames"]] == [1001, 1004, 1007, 1010]  # int64: strings in JSON
    assert "the 4 listed frames (1001-1010x3)" in capsys.readouterr().out


def test_bad_or_unusable_lists_are_refused_with_the_reason(fake, plates, tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "out.####.exr")
    with pytest.raises(SystemExit) as exit_:
        ned(fake, "manipulate", plates, "--actor", "anna", "--frames", "1100-1001", "--output", out)
    assert exit_.value.code == 2 and "is reversed; write 1001-1100" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        ned(fake, "manipulate", plates, "--actor", "anna", "--frames", "1001,1200", "--output", out)
    assert exit_.value.code == 2 and "missing 1200" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        ned(fake, "extract-style", plates, "--frames", "1001-1020x2", "--out", str(tmp_path / "style.json"))
    assert exit_.value.code == 2 and "continuous clip" in capsys.readouterr().err
    assert "Manipulate" not in fake.recorded.frames_sent and fake.recorded.style_requests == 0
