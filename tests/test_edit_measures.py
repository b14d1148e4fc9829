"""The reviewer's measures of tests/edit_measures.py on hand-made cases, so they cannot drift."""

from __future__ import annotations

import cv2
import numpy as np

from tests.edit_measures import face_region, sharpness_ratio


def _face_points(cx: float, cy: float, r: float) -> np.ndarray:
    """68 points on a circle, the eyes (36-47) at mid-height and the brows (17-26) above them."""
    a = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    pts = np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], -1)
    pts[36:48] = [[cx - 0.4 * r + 0.8 * r * (i >= 42), cy] for i in range(36, 48)]
    pts[17:27] = [[cx - 0.5 * r + 0.1 * r * i, cy - 0.3 * r] for i in range(10)]
    return pts


def test_face_region_is_the_landmarks_hull_with_the_brows_lifted():
    pts = _face_points(50, 50, 20)
    region = face_region(pts, (100, 100))
    assert region[50, 50] and not region[5, 5] and not region[50, 90]
    assert region[31, 50]  # just inside the circle's top: in the hull
    assert abs(region.sum() - np.pi * 20 ** 2) < 0.08 * np.pi * 20 ** 2


def test_sharpness_ratio_is_one_for_the_plate_itself_and_falls_with_blur():
    rng = np.random.default_rng(0)
    frames = rng.random((3, 100, 100, 3)).astype(np.float32)
    pts = np.stack([_face_points(50, 50, 25)] * 3)
    found = np.array([True, True, False])
    assert sharpness_ratio(frames, frames, pts, found) == 1.0
    blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 1.5) for f in frames])
    r = sharpness_ratio(frames, blurred, pts, found)
    assert 0.0 < r < 0.2
    # only the found frames count: a frame without a face changes nothing
    mixed = blurred.copy()
    mixed[2] = frames[2] * 0
    assert sharpness_ratio(frames, mixed, pts, found) == r
    assert np.isnan(sharpness_ratio(frames, frames, pts, np.zeros(3, bool)))
