"""What a landmark detector gives the tracker, and landmarks that come from elsewhere.

The tracker only needs, per frame, a list of faces with a box and 68 iBUG-order landmarks in plate
pixels (OpenCV convention: pixel centres at integer coordinates). FAN (fan.py) is one source;
landmarks exported by another tracker (a file, or the Track request's list) are another, and the
tests use the synthetic actor's ground truth. All of them meet here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ned_plugin.landmarks_io import LandmarkFileError, read_landmarks
from ned_server.errors import InvalidInput

NUM_LANDMARKS = 68


@dataclass
class FaceDetection:
    """One face in one frame. ``pupils``, ``deca`` and ``detail`` are filled by the tracker while the frame is
    still in memory (both need its pixels), so nothing else of the frame has to be kept."""

    box: np.ndarray  # (4,) float32: x0, y0, x1, y1 in plate pixels
    landmarks: np.ndarray  # (68, 2) float32
    score: float = 1.0
    pupils: np.ndarray | None = None  # (2, 2): the actor's right eye (points 36-41) first, then left
    deca: np.ndarray | None = None  # DECA E_flame code (236,) when DECA runs
    detail: np.ndarray | None = None  # DECA E_detail code (128,) when DECA runs


@runtime_checkable
class LandmarkDetector(Protocol):
    """Finds every face of a frame. ``image`` is display-referred sRGB, float32 (H, W, 3) in [0, 1].

    ``frame`` is the frame number; real detectors ignore it, test doubles use it to look up ground
    truth.
    """

    def detect(self, frame: int, image: np.ndarray) -> list[FaceDetection]: ...


def landmark_box(landmarks: np.ndarray) -> np.ndarray:
    """The tight box of a landmark set, (4,) float32 x0, y0, x1, y1."""
    pts = np.asarray(landmarks, dtype=np.float64)
    return np.array([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()], dtype=np.float32)


def check_landmarks(points: object, frame: int) -> np.ndarray:
    """(68, 2) float32 from provided landmarks, or InvalidInput naming the frame and what is wrong."""
    try:
        arr = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput(f"landmarks of frame {frame} are not numbers; expected 68 (x, y) points") from None
    if arr.shape != (NUM_LANDMARKS, 2):
        if arr.size == NUM_LANDMARKS * 2 and arr.ndim == 1:
            arr = arr.reshape(NUM_LANDMARKS, 2)  # a flat x0, y0, x1, y1, ... list, as on the wire
        else:
            raise InvalidInput(f"landmarks of frame {frame} have shape {arr.shape}; expected (68, 2): "
                               "68 iBUG-order (x, y) points in plate pixels")
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise InvalidInput(f"landmarks of frame {frame} contain NaN or infinite values (point {bad}); "
                           "leave the frame out instead to mark it as having no face")
    return arr.astype(np.float32)


def check_landmark_map(landmarks: Mapping[int, object]) -> dict[int, np.ndarray]:
    """Validate a whole frame -> landmarks mapping up front, so a bad frame fails before any work."""
    out = {}
    for frame, pts in landmarks.items():
        try:
            key = int(frame)
        except (TypeError, ValueError):
            raise InvalidInput(f"landmarks are keyed by frame number; got key {frame!r}") from None
        out[key] = check_landmarks(pts, key)
    return out


def read_landmark_file(path: str | Path) -> dict[int, np.ndarray]:
    """Landmarks exported by another tracker, frame -> (68, 2), in plate pixels, iBUG-68 order.

    Formats (shared with the client's ``ned track --landmarks``, see ned_plugin.landmarks_io):

    JSON, any of::

        {"1001": [[x0, y0], ..., [x67, y67]], "1002": ...}
        {"frames": {"1001": [[x, y], ...], ...}}
        [{"frame": 1001, "landmarks": [[x, y], ...]}, ...]     ("points" accepted for "landmarks")

    (a flat [x0, y0, x1, y1, ...] list works wherever a point list does).

    CSV, either wide ``frame,x0,y0,...,x67,y67`` (one row per frame, optional header) or long
    ``frame,point,x,y`` (68 rows per frame). A frame missing from the file is tracked as "no face".
    """
    try:
        raw = read_landmarks(path)
    except LandmarkFileError as exc:
        raise InvalidInput(str(exc)) from None
    return check_landmark_map(raw)


class ProvidedLandmarks:
    """A 'detector' that returns landmarks given up front (one face per frame)."""

    def __init__(self, landmarks: Mapping[int, object]) -> None:
        self.landmarks = check_landmark_map(landmarks)

    def detect(self, frame: int, image: np.ndarray) -> list[FaceDetection]:
        pts = self.landmarks.get(int(frame))
        if pts is None:
            return []
        return [FaceDetection(box=landmark_box(pts), landmarks=pts.copy(), score=1.0)]
