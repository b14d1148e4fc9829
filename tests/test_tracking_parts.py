"""The tracking stage's building blocks: smoothing, identities, eyes, alignment, the track file."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from ned_server.errors import InvalidInput, NotFound
from ned_server.tracking.alignment import align_frames, stable_points, umeyama
from ned_server.tracking.config import AlignmentConfig, EyesConfig, IdentityConfig, SmoothingConfig
from ned_server.tracking.detection import (
    FaceDetection,
    ProvidedLandmarks,
    check_landmark_map,
    landmark_box,
    read_landmark_file,
)
from ned_server.tracking.eyes import blink_signal, eye_aperture, find_pupils
from ned_server.tracking.identities import IdentityTracker, iou_matrix
from ned_server.tracking.normal_equations import solve_arrow
from ned_server.tracking.result import ShotTrack
from ned_server.tracking.smoothing import one_euro, segments, smooth_track
from ned_server.tracking.template import template_points


# ---------------------------------------------------------------------------- smoothing
def _second_diff_jitter(x: np.ndarray) -> float:
    return float(np.sqrt((np.diff(x, 2, axis=0) ** 2).mean()))


def test_zero_phase_smoothing_follows_a_fast_move_without_lag_and_removes_jitter() -> None:
    rng = np.random.default_rng(1)
    T, size = 90, 100.0
    truth = np.zeros((T, 2))
    truth[38], truth[39], truth[40:] = [20, -10], [40, -20], [60, -30]  # a head snap over 3 frames
    noisy = truth + rng.normal(0, 1.0, truth.shape)
    cfg = SmoothingConfig()
    smooth = smooth_track(noisy, np.ones(T, bool), size, cfg, group=2)
    causal = one_euro(noisy / size, cfg, group=2) * size

    still = [slice(2, 33), slice(47, 88)]
    raw_jit = np.mean([_second_diff_jitter(noisy[s]) for s in still])
    sm_jit = np.mean([_second_diff_jitter(smooth[s]) for s in still])
    assert sm_jit < 0.5 * raw_jit, (raw_jit, sm_jit)
    raw_err = np.sqrt(((noisy - truth)[np.r_[2:33, 47:88]] ** 2).mean())
    sm_err = np.sqrt(((smooth - truth)[np.r_[2:33, 47:88]] ** 2).mean())
    assert sm_err < 0.7 * raw_err

    # Through the move: close to the truth, and clearly better than the causal filter, which lags.
    move = slice(36, 43)
    err_zero = np.abs(smooth - truth)[move].max()
    err_causal = np.abs(causal - truth)[move].max()
    assert err_zero < 2.0 and err_zero < 0.5 * err_causal, (err_zero, err_causal)
    # No lag: the transition's midpoint (half the step reached) is where the truth's is.
    def midpoint(x: np.ndarray) -> float:
        return float(np.interp(30.0, x[30:50, 0], np.arange(30, 50)))
    assert abs(midpoint(smooth) - midpoint(truth)) < 0.25


def test_smoothing_a_fast_oscillation_keeps_amplitude_and_phase() -> None:
    rng = np.random.default_rng(2)
    T = 100
    t = np.arange(T) / 25.0
    truth = np.stack([20 * np.sin(2 * np.pi * 1.5 * t), np.zeros(T)], 1)
    noisy = truth + rng.normal(0, 1.0, truth.shape)
    smooth = smooth_track(noisy, np.ones(T, bool), 100.0, SmoothingConfig(), group=2)
    corr = np.correlate(smooth[:, 0] - smooth[:, 0].mean(), truth[:, 0], "full")
    assert int(np.argmax(corr)) - (T - 1) == 0  # zero lag
    assert np.abs(smooth - truth).max() < 4.0
    assert np.ptp(smooth[10:-10, 0]) > 0.9 * np.ptp(truth[10:-10, 0])


def test_smoothing_respects_untracked_gaps() -> None:
    valid = np.array([1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1], bool)
    assert segments(valid) == [(0, 4), (6, 11)]
    assert segments(valid, max_bridge=2) == [(0, 11)]
    values = np.arange(11, dtype=float)[:, None] * np.ones((1, 2))
    values[4:6] = -999.0  # placeholders of untracked frames must not leak into their neighbours
    out = smooth_track(values, valid, 10.0, SmoothingConfig(), group=2)
    assert np.all(out[4:6] == -999.0)
    assert np.all(out[valid] > -1)


# ---------------------------------------------------------------------------- identities
def _det(x: float, y: float, size: float) -> FaceDetection:
    box = np.array([x, y, x + size, y + size], np.float32)
    return FaceDetection(box=box, landmarks=np.zeros((68, 2), np.float32))


def test_identities_are_stable_through_fast_motion_dropouts_and_order_changes() -> None:
    tracker = IdentityTracker(IdentityConfig(max_gap=5))
    frames = list(range(1001, 1031))
    for i in range(30):
        dets = [_det(10 + 6 * i, 20, 40)]  # face A moves fast to the right (6 px/frame)
        if not 10 <= i < 13:  # face B (larger, still) drops out for 3 frames
            dets.append(_det(200, 50, 60))
        if i == 20:
            dets.append(_det(400, 300, 30))  # a one-frame false detection
        if i % 2:
            dets.reverse()  # detectors give no order guarantee
        tracker.update(i, dets)
    summaries = tracker.summaries(frames)
    assert [s.frames for s in summaries] == [30, 27, 1]
    assert [(s.first, s.last) for s in summaries[:2]] == [(1001, 1030), (1001, 1030)]
    assert tracker.choose(frames).id == 1  # the largest real face
    assert tracker.choose(frames, face_id=0).id == 0
    with pytest.raises(NotFound, match=r"face id 7 .*faces found: 0 \(frames 1001-1030"):
        tracker.choose(frames, face_id=7)


def test_a_face_gone_longer_than_max_gap_gets_a_new_id() -> None:
    tracker = IdentityTracker(IdentityConfig(max_gap=2))
    for i in range(10):
        if not 3 <= i < 7:
            tracker.update(i, [_det(50, 50, 40)])
    assert [s.frames for s in tracker.summaries(list(range(10)))] == [3, 3]


def test_iou_matrix() -> None:
    a = np.array([[0, 0, 10, 10]], float)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], float)
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0]])


# ---------------------------------------------------------------------------- landmarks given
def test_provided_landmarks_are_validated_naming_the_frame(tmp_path) -> None:
    good = template_points(256).astype(np.float32)
    with pytest.raises(InvalidInput, match="frame 12 have shape"):
        check_landmark_map({11: good, 12: good[:60]})
    bad = good.copy()
    bad[5, 1] = np.nan
    with pytest.raises(InvalidInput, match="frame 3 contain NaN"):
        ProvidedLandmarks({3: bad})
    source = ProvidedLandmarks({7: good.reshape(-1)})  # the wire's flat list is accepted
    (det,) = source.detect(7, np.zeros((4, 4, 3), np.float32))
    np.testing.assert_allclose(det.landmarks, good)
    np.testing.assert_allclose(det.box, landmark_box(good))
    assert source.detect(8, np.zeros((4, 4, 3), np.float32)) == []

    path = tmp_path / "lm.csv"
    path.write_text("\n".join(f"{f}," + ",".join(f"{v:.3f}" for v in good.reshape(-1)) for f in (1, 2)))
    got = read_landmark_file(path)
    assert sorted(got) == [1, 2] and np.allclose(got[2], good, atol=1e-3)
    path.write_text("1,2,3\n")
    with pytest.raises(InvalidInput, match="expected 68 points"):
        read_landmark_file(path)


# ---------------------------------------------------------------------------- eyes
def _eye_image(pupil: tuple[float, float], closed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A 200 px face-coloured image with one open eye (sclera + dark iris) and its landmarks."""
    lm = template_points(256)[:, :] * (200 / 256)
    if closed:
        for s in (36, 42):
            mid = 0.5 * (lm[s + 1] + lm[s + 5])
            lm[[s + 1, s + 2, s + 4, s + 5], 1] = mid[1]
    img = np.full((200, 200, 3), (0.75, 0.55, 0.45), np.float32)
    for s in (36, 42):
        cv2.fillPoly(img, [np.round(lm[s:s + 6] * 16).astype(np.int32)], (0.92, 0.9, 0.88), shift=4)
    iris = np.zeros((200, 200), np.uint8)
    cv2.circle(iris, (round(pupil[0] * 16), round(pupil[1] * 16)), 3 * 16, 1, -1, shift=4)
    eye_mask = np.zeros((200, 200), np.uint8)
    cv2.fillPoly(eye_mask, [np.round(lm[36:42] * 16).astype(np.int32)], 1, shift=4)
    img[(iris & eye_mask).astype(bool)] = (0.1, 0.08, 0.07)
    return img, lm


def test_pupil_is_the_dark_mass_centre_inside_the_eye() -> None:
    lm0 = template_points(256) * (200 / 256)
    centre = lm0[36:42].mean(axis=0)
    for dx in (-2.5, 0.0, 2.0):
        target = (centre[0] + dx, centre[1] + 0.3)
        img, lm = _eye_image(target)
        pupils = find_pupils(img, lm, EyesConfig())
        assert pupils.shape == (2, 2)
        assert np.linalg.norm(pupils[0] - target) < 0.6, (pupils[0], target)
    img, lm = _eye_image((centre[0], centre[1]), closed=True)
    pupils = find_pupils(img, lm)
    assert np.isfinite(pupils).all()  # a closed eye gives its centre, not NaN


def test_blinks_from_the_eyelid_aperture_relative_to_the_shots_open_eye() -> None:
    lm = np.repeat(template_points(256)[None], 20, 0)
    closing = {8: 0.5, 9: 0.0, 10: 0.5}  # lid opening relative to open
    for t, f in closing.items():
        for s in (36, 42):
            mid = 0.5 * (lm[t, s + 1] + lm[t, s + 5])
            for up, low in ((s + 1, s + 5), (s + 2, s + 4)):
                lm[t, up, 1] = mid[1] + f * (lm[0, up, 1] - mid[1])
                lm[t, low, 1] = mid[1] + f * (lm[0, low, 1] - mid[1])
    tracked = np.ones(20, bool)
    tracked[15] = False
    blink = blink_signal(lm, tracked, EyesConfig(closed_ratio=0.0))
    assert blink[9] == pytest.approx(1.0, abs=0.02)
    assert blink[8] == pytest.approx(0.5, abs=0.05) and blink[10] == pytest.approx(0.5, abs=0.05)
    assert np.all(blink[[0, 5, 12, 19]] < 0.02) and blink[15] == 0.0
    assert eye_aperture(lm[0]).shape == (2,)


# ---------------------------------------------------------------------------- alignment
def _similarity(scale: float, angle: float, tx: float, ty: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[scale * c, -scale * s, tx], [scale * s, scale * c, ty]])


def test_umeyama_recovers_a_similarity() -> None:
    rng = np.random.default_rng(3)
    src = rng.normal(size=(13, 2)) * 50
    A = _similarity(1.7, 0.3, 12.0, -40.0)
    dst = src @ A[:, :2].T + A[:, 2]
    np.testing.assert_allclose(umeyama(src, dst, rng.uniform(0.2, 1, 13)), A, atol=1e-9)


def test_alignment_maps_the_plate_face_onto_the_template_and_ignores_the_mouth() -> None:
    cfg = AlignmentConfig(crop_size=128)
    template = template_points(128)
    T = 6
    truths = [_similarity(1 / s, a, 0, 0) for s, a in zip(np.linspace(2, 3, T), np.linspace(-0.2, 0.2, T),
                                                           strict=True)]
    lm = np.zeros((T, 68, 2))
    for t, A in enumerate(truths):  # plate landmarks = template moved by the inverse of A
        inv = cv2.invertAffineTransform(A)
        lm[t] = template @ inv[:, :2].T + inv[:, 2] + [300 + 5 * t, 200]
    lm[3, 48:68] += [0, 15]  # a wide-open mouth must not move the crop
    tracked = np.ones(T, bool)
    tracked[4] = False
    aligned = align_frames(lm, tracked, cfg, smoothing=None)
    assert aligned.shape == (T, 2, 3) and aligned.dtype == np.float64
    idx, _ = stable_points(cfg)
    for t in (0, 1, 2, 3, 5):
        mapped = lm[t] @ aligned[t, :, :2].T + aligned[t, :, 2]
        np.testing.assert_allclose(mapped[idx], template[idx], atol=1e-6)
    np.testing.assert_allclose(aligned[4], aligned[3])  # untracked: the nearest tracked frame's matrix
    # OpenCV convention: warpAffine(frame, A) puts a plate dot at the template landmark's pixel.
    frame = np.zeros((400, 500), np.float32)
    x, y = np.round(lm[0, 30]).astype(int)
    frame[y, x] = 1.0
    crop = cv2.warpAffine(frame, aligned[0], (128, 128), flags=cv2.INTER_LINEAR)
    peak = np.unravel_index(np.argmax(crop), crop.shape)
    expected = np.array([x, y]) @ aligned[0, :, :2].T + aligned[0, :, 2]
    assert np.hypot(peak[1] - expected[0], peak[0] - expected[1]) < 1.0
    # Smoothed alignments stay close on a smooth motion.
    smoothed = align_frames(lm, tracked, cfg, smoothing=SmoothingConfig())
    for t in (0, 1, 2, 3, 5):
        moved = (lm[t] @ smoothed[t, :, :2].T + smoothed[t, :, 2]) - (lm[t] @ aligned[t, :, :2].T + aligned[t, :, 2])
        assert np.abs(moved[idx]).max() < 2.0


# ---------------------------------------------------------------------------- track file
def _track(T: int = 5) -> ShotTrack:
    from ned_server.tracking.identities import FaceSummary

    rng = np.random.default_rng(0)
    return ShotTrack(
        frames=np.arange(1001, 1001 + T), tracked=np.array([True] * (T - 1) + [False]),
        notes=[""] * (T - 1) + ["no face found"], face_id=1,
        faces=[FaceSummary(0, 3, 1001, 1003, 40.0), FaceSummary(1, T - 1, 1001, 1004, 80.5)],
        boxes=rng.random((T, 4)), landmarks=rng.random((T, 68, 2)), shape=rng.random(100),
        expression=rng.random((T, 50)), pose=rng.random((T, 15)), camera=rng.random((T, 3)),
        expression51=rng.random((T, 51)), pupils=rng.random((T, 2, 2)), blink=rng.random(T),
        alignment=rng.random((T, 2, 3)), frame_size=(320, 240))


def test_track_file_round_trip_without_pickles(tmp_path) -> None:
    track = _track()
    path = track.save(tmp_path / "shot" / "track.npz")
    with np.load(path, allow_pickle=False) as data:
        assert "notes" in data.files
    back = ShotTrack.load(path)
    assert back.notes == track.notes and back.faces == track.faces and back.frame_size == (320, 240)
    assert back.face_id == 1 and back.index_of(1003) == 2
    for name in ("frames", "tracked", "landmarks", "alignment", "expression51", "shape", "fit_error"):
        np.testing.assert_array_equal(getattr(back, name), getattr(track, name))
    assert back.alignment.dtype == np.float64 and back.frames.dtype == np.int64


def test_track_file_write_is_atomic(tmp_path, monkeypatch) -> None:
    path = _track(5).save(tmp_path / "track.npz")
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        _track(7).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["track.npz"]  # no temporary left behind
    with pytest.raises(InvalidInput, match="cannot read the track file"):
        (tmp_path / "bad.npz").write_bytes(b"not a zip")
        ShotTrack.load(tmp_path / "bad.npz")


# ---------------------------------------------------------------------------- the fit's linear algebra
def _dense_system(blocks: torch.Tensor, off1: torch.Tensor, off2: torch.Tensor, cross: torch.Tensor,
                  hss: torch.Tensor) -> torch.Tensor:
    """The same system written out densely, to check the structured solve against."""
    n, k, _ = blocks.shape
    s = hss.shape[0]
    h = torch.zeros(n * k + s, n * k + s, dtype=blocks.dtype)
    for t in range(n):
        h[t * k:(t + 1) * k, t * k:(t + 1) * k] = blocks[t]
        h[t * k:(t + 1) * k, n * k:] = cross[t]
        h[n * k:, t * k:(t + 1) * k] = cross[t].T
    for d, values in ((1, off1), (2, off2)):
        for t in range(n - d):
            rows, cols = (t + d) * k + torch.arange(k), t * k + torch.arange(k)
            h[rows, cols] = h[cols, rows] = values[t]
    h[n * k:, n * k:] = hss
    return h


@pytest.mark.parametrize("frames,k,s", [(1, 3, 2), (2, 4, 0), (5, 3, 4), (8, 5, 6), (7, 2, 0)])
def test_the_gauss_newton_system_is_solved_exactly(frames: int, k: int, s: int) -> None:
    g = torch.Generator().manual_seed(frames * 100 + k * 10 + s)
    dt = torch.float64
    jac = torch.randn(frames, 6, k, generator=g, dtype=dt)
    jac_s = torch.randn(frames, 6, s, generator=g, dtype=dt)
    blocks = jac.transpose(1, 2) @ jac + 3.0 * torch.eye(k, dtype=dt)
    cross = jac.transpose(1, 2) @ jac_s
    hss = (jac_s.transpose(1, 2) @ jac_s).sum(0) + (3.0 + frames) * torch.eye(s, dtype=dt)
    off1 = 0.4 * torch.randn(max(frames - 1, 0), k, generator=g, dtype=dt)
    off2 = 0.4 * torch.randn(max(frames - 2, 0), k, generator=g, dtype=dt)
    bx, bs = torch.randn(frames, k, generator=g, dtype=dt), torch.randn(s, generator=g, dtype=dt)
    dx, ds = solve_arrow(blocks, off1, off2, cross, hss, bx, bs)
    expected = torch.linalg.solve(_dense_system(blocks, off1, off2, cross, hss), torch.cat([bx.reshape(-1), bs]))
    torch.testing.assert_close(torch.cat([dx.reshape(-1), ds]), expected, rtol=1e-10, atol=1e-10)
    assert dx.shape == (frames, k) and ds.shape == (s,)
