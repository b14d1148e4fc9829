"""Landmarks from other trackers: every documented layout reads the same, bad files are refused clearly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ned_plugin.landmarks_io import LandmarkFileError, read_landmarks

PTS = np.arange(136, dtype=np.float32).reshape(68, 2) * 0.5


@pytest.mark.parametrize("layout", ["map", "frames", "list", "flat", "wide", "wide_header", "long"])
def test_layouts(tmp_path: Path, layout: str) -> None:
    if layout == "map":
        path, text = "l.json", json.dumps({"1001": PTS.tolist(), "1002": (PTS + 1).tolist()})
    elif layout == "frames":
        path, text = "l.json", json.dumps({"frames": {"1001": PTS.tolist(), "1002": (PTS + 1).tolist()}})
    elif layout == "list":
        path, text = "l.json", json.dumps([{"frame": 1001, "landmarks": PTS.tolist()},
                                           {"frame": 1002, "points": (PTS + 1).tolist()}])
    elif layout == "flat":
        path, text = "l.json", json.dumps({"1001": PTS.reshape(-1).tolist(), "1002": (PTS + 1).reshape(-1).tolist()})
    elif layout.startswith("wide"):
        rows = [",".join(["1001", *map(str, PTS.reshape(-1))]), ",".join(["1002", *map(str, (PTS + 1).reshape(-1))])]
        if layout == "wide_header":
            rows.insert(0, "frame," + ",".join(f"x{i},y{i}" for i in range(68)))
        path, text = "l.csv", "\n".join(rows)
    else:
        rows = ["frame,point,x,y"] + [f"{f},{i},{p[0] + d},{p[1] + d}" for f, d in ((1001, 0), (1002, 1))
                                      for i, p in enumerate(PTS)]
        path, text = "l.csv", "\n".join(rows)
    (tmp_path / path).write_text(text)
    got = read_landmarks(tmp_path / path)
    assert sorted(got) == [1001, 1002]
    np.testing.assert_allclose(got[1001], PTS)
    np.testing.assert_allclose(got[1002], PTS + 1)


@pytest.mark.parametrize("text,match", [
    ('{"1001": [[1, 2]]}', "expected 68 points"),
    ('{"abc": []}', "not a frame number"),
    ('{"1001": ' + json.dumps([[float("nan"), 0]] * 68).replace("NaN", "NaN") + "}", "NaN"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "entry 0"),
])
def test_bad_files(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "l.json").write_text(text)
    with pytest.raises(LandmarkFileError, match=match):
        read_landmarks(tmp_path / "l.json")


def test_long_csv_missing_point(tmp_path: Path) -> None:
    rows = [f"1001,{i},1,2" for i in range(67)]
    (tmp_path / "l.csv").write_text("\n".join(rows))
    with pytest.raises(LandmarkFileError, match=r"points 0\.\.67"):
        read_landmarks(tmp_path / "l.csv")
