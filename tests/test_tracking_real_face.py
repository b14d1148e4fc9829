"""A real face through the offline tracking path: detected, landmarked (dlib) and tracked.

Every other tracking test sees the project's own procedural head. Here the face is a photograph
(scikit-image's ``data.astronaut()``, public domain) made into a short moving shot by small
similarity warps, so the true motion between frames is known exactly: the landmarks found on each
frame, mapped back through its warp, must land where the first frame's did (the landmarker follows
the face, not the pixel grid), and the FLAME fit must reproject them to a small fraction of the
inter-ocular distance. The baseline beside the bound is the fit's error on the same landmarks with
the face model frozen at its mean (rigid fit only), so a fit that does nothing cannot pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
import torch
from skimage import data as skimage_data

from ned_server.face3d.config import FlameConfig
from ned_server.face3d.flame import FlameLayer
from ned_server.synthetic.flame_assets import make_tiny_flame_assets
from ned_server.tracking.config import TrackingConfig
from ned_server.tracking.dlib_landmarks import NAME, DlibDetector
from ned_server.tracking.fitting import fit_shot
from ned_server.tracking.result import TRACKER_FIT
from ned_server.tracking.track import NO_FACE, track_shot

FRAMES = 12


def _warps() -> list[np.ndarray]:
    """(2, 3) similarity per frame: a slow drift, a small nod of rotation and a 4 % zoom."""
    out = []
    for k in range(FRAMES):
        t = k / (FRAMES - 1)
        angle = 4.0 * math.sin(2 * math.pi * t)
        scale = 1.0 + 0.04 * t
        m = cv2.getRotationMatrix2D((256.0, 200.0), angle, scale)
        m[:, 2] += (10.0 * t, -6.0 * t)
        out.append(m)
    return out


@pytest.fixture(scope="module")
def shot() -> tuple[list[tuple[int, np.ndarray]], list[np.ndarray]]:
    image = skimage_data.astronaut().astype(np.float32) / 255.0
    warps = _warps()
    frames = [(1001 + k, cv2.warpAffine(image, m, (512, 512), flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_REFLECT)) for k, m in enumerate(warps)]
    return frames, warps


@pytest.fixture(scope="module")
def flame() -> FlameLayer:
    files = make_tiny_flame_assets(None, seed=0)  # the shared cache the synthetic actor uses too
    return FlameLayer(files.model, files.landmarks, FlameConfig())


class _Recording:
    """The dlib detector, keeping what it found per frame (so the tests detect each frame once)."""

    def __init__(self) -> None:
        self.inner = DlibDetector()  # loading the 68-point model costs ~2 s: once per module
        self.name = self.inner.name
        self.found: dict[int, list] = {}

    def detect(self, frame: int, image: np.ndarray) -> list:
        self.found[frame] = self.inner.detect(frame, image)
        return self.found[frame]


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Torch on one thread (the CPU is shared: more threads only contend), then as it was."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tracked(shot, flame, one_thread):  # type: ignore[no-untyped-def]
    frames, _ = shot
    detector = _Recording()
    return track_shot(frames, flame, TrackingConfig(), detector=detector), detector.found, detector.inner


@pytest.fixture(scope="module")
def track(tracked):  # type: ignore[no-untyped-def]
    return tracked[0]


def _iod(landmarks: np.ndarray) -> np.ndarray:
    return np.linalg.norm(landmarks[..., 36:42, :].mean(-2) - landmarks[..., 42:48, :].mean(-2), axis=-1)


def _detected(tracked) -> np.ndarray:
    """(T, 68, 2) the landmarker's own points on the tracked frames, before any fit or smoothing."""
    track, found = tracked[0], tracked[1]
    return np.stack([found[n][0].landmarks for n in track.frames])


def test_the_offline_landmarker_finds_the_face_and_follows_it(shot, tracked) -> None:
    frames, warps = shot
    found = [tracked[1][n] for n, _ in frames]
    assert all(len(f) == 1 for f in found), [len(f) for f in found]
    points = np.stack([f[0].landmarks for f in found]).astype(np.float64)
    iod = _iod(points)
    assert 30 < iod.mean() < 80  # the astronaut's eyes are ~44 px apart in the 512 px photograph
    # Each frame's landmarks, mapped back through its warp, fall where the first frame's do.
    back = np.stack([cv2.transform(p[None], cv2.invertAffineTransform(m))[0] for p, m in zip(points, warps,
                                                                                              strict=True)])
    drift = np.linalg.norm(back - back[0], axis=-1).mean(axis=1)
    moved = np.linalg.norm(points - points[0], axis=-1).mean(axis=1)  # how far the face moved in the plate
    assert drift[1:].mean() < 0.06 * iod.mean(), drift
    assert moved[-1] > 3 * max(drift[-1], 1.0)  # the warps moved the face far more than the error


def test_the_real_face_is_tracked_with_a_small_reprojection_error(tracked, shot, flame) -> None:
    track = tracked[0]
    frames, _ = shot
    assert track.tracked.all() and not any(track.notes)
    assert track.landmarker == NAME and track.tracker == TRACKER_FIT
    assert track.frames.tolist() == [n for n, _ in frames]
    iod = _iod(track.landmarks.astype(np.float64))
    error_iod = float((track.fit_error / iod).mean())
    # Baseline on the same landmarks: only pose and camera fitted, the model frozen at its mean face.
    raw = _detected(tracked)
    rigid = TrackingConfig().fit
    rigid.iterations = 0
    frozen = fit_shot(raw, np.ones(len(raw), bool), flame, rigid, frame_size=track.frame_size)
    baseline = float((frozen.error / iod).mean())
    assert error_iod < 0.08, error_iod
    assert error_iod < 0.8 * baseline, (error_iod, baseline)
    # The boxes follow the face (the Savitzky-Golay smoothing keeps the drift of the warps).
    centres = 0.5 * (track.boxes[:, :2] + track.boxes[:, 2:])
    assert np.linalg.norm(centres[-1] - centres[0]) > 5.0


def test_a_looser_convergence_gain_saves_steps_not_accuracy(tracked, flame) -> None:
    """The default stopping rule against one ten times stricter, on the real face's landmarks: on
    real points the tail of the fit is the contour sliding along the silhouette (fitting.py)."""
    track = tracked[0]
    raw = _detected(tracked)
    iod = _iod(raw.astype(np.float64))
    default, strict = TrackingConfig().fit, TrackingConfig().fit
    strict.convergence_gain = default.convergence_gain / 10.0
    fits = [fit_shot(raw, np.ones(len(raw), bool), flame, c, frame_size=track.frame_size) for c in (default, strict)]
    errors = [float((f.error / iod).mean()) for f in fits]
    assert fits[0].iterations <= fits[1].iterations, [f.iterations for f in fits]
    assert errors[0] < errors[1] + 0.002, errors  # a fifth of a percent of the inter-ocular distance


def test_frames_without_a_face_pass_through_untracked(shot, flame, tracked) -> None:
    frames, _ = shot
    blank = np.full_like(frames[0][1], 0.5)
    mixed = [frames[0], frames[1], (frames[2][0], blank), frames[3], frames[4]]
    known, dlib = tracked[1], tracked[2]

    class Replay:  # the recorded detections, and the real detector on the blank frame
        name = NAME

        def detect(self, frame: int, image: np.ndarray) -> list:
            return dlib.detect(frame, image) if frame == frames[2][0] else known[frame]

    result = track_shot(mixed, flame, TrackingConfig(), detector=Replay())
    assert result.tracked.tolist() == [True, True, False, True, True]
    assert result.notes[2] == NO_FACE
    # The untracked frame holds a neighbour's values (no NaN, no jump for the later stages).
    assert np.isfinite(result.expression51).all()
    assert np.allclose(result.pose[2], result.pose[1]) or np.allclose(result.pose[2], result.pose[3])
