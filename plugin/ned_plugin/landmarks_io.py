"""Reading 68-point landmarks exported by another tracker, so a shot can skip landmark detection.

Accepted files (points in plate pixels, origin top-left, iBUG-68 order):

JSON, any of
    {"1001": [[x0, y0], ..., [x67, y67]], "1002": ...}
    {"frames": {"1001": [[x, y], ...]}}
    [{"frame": 1001, "landmarks": [[x, y], ...]}, ...]        ("points" is accepted for "landmarks")
    (a flat [x0, y0, x1, y1, ...] list works wherever a point list does)

CSV, either
    wide: frame,x0,y0,x1,y1,...,x67,y67          (one row per frame; a header row is optional)
    long: frame,point,x,y                        (68 rows per frame)
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

NUM_POINTS = 68


class LandmarkFileError(ValueError):
    pass


def as_points(values: object, label: str) -> np.ndarray:
    """(68, 2) float32 from a point list or a flat list; refuses wrong counts and NaN/Inf."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise LandmarkFileError(f"{label}: landmarks are not numbers") from None
    if arr.size != NUM_POINTS * 2:
        raise LandmarkFileError(f"{label}: expected {NUM_POINTS} points (x, y), got {arr.size} values")
    arr = arr.reshape(NUM_POINTS, 2)
    if not np.isfinite(arr).all():
        raise LandmarkFileError(f"{label}: landmarks contain NaN or infinite values")
    return arr.astype(np.float32)


def _from_mapping(data: Mapping[str, object], source: str) -> dict[int, np.ndarray]:
    out = {}
    for key, value in data.items():
        try:
            frame = int(key)
        except ValueError:
            raise LandmarkFileError(f"{source}: key {key!r} is not a frame number") from None
        out[frame] = as_points(value, f"{source} frame {frame}")
    return out


def read_landmarks(path: str | Path) -> dict[int, np.ndarray]:
    """Frame number -> (68, 2) landmarks, from a JSON or CSV file (see the module docstring)."""
    path = Path(path)
    source = path.name
    try:
        text = path.read_text()
    except OSError as exc:
        raise LandmarkFileError(f"cannot read landmarks file {path}: {exc}") from None
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LandmarkFileError(f"{source}: not valid JSON ({exc})") from None
        if isinstance(data, dict) and "frames" in data:
            data = data["frames"]
        if isinstance(data, dict):
            result = _from_mapping(data, source)
        elif isinstance(data, list):
            result = {}
            for i, entry in enumerate(data):
                if not isinstance(entry, dict) or "frame" not in entry:
                    raise LandmarkFileError(f"{source}: entry {i} needs 'frame' and 'landmarks'")
                pts = entry.get("landmarks", entry.get("points"))
                result[int(entry["frame"])] = as_points(pts, f"{source} frame {entry['frame']}")
        else:
            raise LandmarkFileError(f"{source}: expected an object or a list of frames")
    else:
        result = _read_csv(text, source)
    if not result:
        raise LandmarkFileError(f"{source}: no landmarks found")
    return result


def _read_csv(text: str, source: str) -> dict[int, np.ndarray]:
    rows = [r for r in csv.reader(text.splitlines()) if r and any(c.strip() for c in r)]
    if rows and not _is_number(rows[0][0]):
        rows = rows[1:]  # header
    if not rows:
        return {}
    if len(rows[0]) == 4:  # long format
        frames: dict[int, dict[int, tuple[float, float]]] = {}
        for r in rows:
            frame, point = int(float(r[0])), int(float(r[1]))
            frames.setdefault(frame, {})[point] = (float(r[2]), float(r[3]))
        out = {}
        for frame, pts in frames.items():
            if sorted(pts) != list(range(NUM_POINTS)):
                raise LandmarkFileError(f"{source} frame {frame}: needs points 0..67 exactly once")
            out[frame] = as_points([pts[i] for i in range(NUM_POINTS)], f"{source} frame {frame}")
        return out
    out = {}
    for line, r in enumerate(rows, 1):
        try:
            frame = int(float(r[0]))
            values = [float(v) for v in r[1:]]
        except ValueError:
            raise LandmarkFileError(f"{source} row {line}: not numbers") from None
        out[frame] = as_points(values, f"{source} frame {frame}")
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
