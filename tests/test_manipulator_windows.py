"""Sliding windows, Gaussian overlap-merge, geometric median, and emotion-control schedules."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ned_server.domains import EMOTIONS
from ned_server.manipulator.controls import EmotionSettings, Keyframe, mix_weights, resolve_schedule
from ned_server.manipulator.windows import (
    gaussian_window_weights,
    geometric_median,
    opencv_default_sigma,
    overlap_merge,
    sliding_windows,
)


def test_gaussian_weights_match_opencv_default_kernel():
    w = gaussian_window_weights(10)
    assert w.sum() == pytest.approx(1.0)
    assert np.allclose(w, w[::-1])
    assert np.allclose(w, cv2.getGaussianKernel(10, -1).ravel(), atol=1e-9)
    assert opencv_default_sigma(10) == pytest.approx(1.85)


def test_gaussian_weights_without_opencv_are_close(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    w = gaussian_window_weights(10)
    assert w.sum() == pytest.approx(1.0)
    assert np.allclose(w, cv2.getGaussianKernel(10, -1).ravel(), rtol=0.03)


def test_merge_keeps_a_constant_constant_and_rebuilds_exact_windows():
    weights = gaussian_window_weights(10)
    const = np.full((30, 10, 51), 0.37)
    assert np.allclose(overlap_merge(const, weights), 0.37)
    seq = np.random.default_rng(0).normal(size=(40, 51))
    windows = sliding_windows(seq, 10)
    assert windows.shape == (31, 10, 51)
    assert np.allclose(overlap_merge(windows, weights), seq)
    # A frame's value is the weighted mean of the windows covering it: perturbing one window moves
    # the frames it covers by at most that window's share.
    moved = windows.copy()
    moved[15] += 1.0
    diff = overlap_merge(moved, weights) - seq
    assert np.allclose(diff[:15], 0) and np.allclose(diff[25:], 0)
    assert np.all(diff[15:25, 0] > 0) and np.all(diff[15:25, 0] <= weights.max() / weights[0] * 1.0 + 1e-9)


def test_sliding_windows_need_one_full_window():
    with pytest.raises(ValueError, match="at least 10 frames"):
        sliding_windows(np.zeros((9, 51)), 10)


def test_geometric_median_is_robust_and_a_median_in_1d():
    values = np.array([[1.0], [2.0], [3.0], [4.0], [100.0]])
    assert geometric_median(values)[0] == pytest.approx(3.0, abs=1e-3)
    rng = np.random.default_rng(0)
    cluster = rng.normal(0.0, 0.1, size=(40, 16))
    outliers = np.full((8, 16), 50.0)
    pts = np.concatenate([cluster, outliers])
    med = geometric_median(pts)
    assert np.linalg.norm(med - cluster.mean(axis=0)) < 0.2
    assert np.linalg.norm(pts.mean(axis=0) - cluster.mean(axis=0)) > 10  # the mean is dragged away
    same = np.tile(np.arange(16.0), (5, 1))
    assert np.allclose(geometric_median(same), np.arange(16.0))
    # Weiszfeld's optimum: the summed distance cannot be lowered by small moves.
    def cost(y):
        return np.linalg.norm(pts - y, axis=1).sum()
    for _ in range(10):
        assert cost(med) <= cost(med + rng.normal(0, 1e-2, size=16)) + 1e-6
    with pytest.raises(ValueError, match="NaN"):
        geometric_median(np.array([[np.nan, 1.0]]))


def test_mix_weights_normalise_and_name_the_valid_emotions():
    w = mix_weights({"happy": 3.0, "surprise": 1.0}, EMOTIONS)
    assert w[EMOTIONS.index("happy")] == pytest.approx(0.75)
    assert w[EMOTIONS.index("surprised")] == pytest.approx(0.25)
    with pytest.raises(KeyError, match="neutral, angry, disgusted"):
        mix_weights({"joyful": 1.0}, EMOTIONS)
    with pytest.raises(ValueError, match="sum to 0"):
        mix_weights({"happy": 0.0}, EMOTIONS)
    with pytest.raises(ValueError, match=">= 0"):
        mix_weights({"happy": -1.0}, EMOTIONS)


def test_keyframes_are_held_outside_exact_at_keys_and_smooth_between():
    control = EmotionSettings(keyframes=[(120, "happy", 0.0), (100, "sad", 1.0), (140, {"happy": 1.0}, 2.0)])
    sched = resolve_schedule(control, 60, EMOTIONS, first_frame=90)  # frames 90..149
    sad, happy = EMOTIONS.index("sad"), EMOTIONS.index("happy")
    frame = lambda f: f - 90  # noqa: E731
    assert np.allclose(sched.weights.sum(axis=1), 1.0)
    assert sched.weights[frame(90), sad] == pytest.approx(1.0)  # held before the first key
    assert sched.weights[frame(100), sad] == pytest.approx(1.0)
    assert sched.weights[frame(120), happy] == pytest.approx(1.0)
    assert sched.intensity[frame(100)] == pytest.approx(1.0)
    assert sched.intensity[frame(120)] == pytest.approx(0.0)
    assert sched.intensity[frame(149)] == pytest.approx(2.0)  # held after the last key
    between = sched.weights[frame(100):frame(121), happy]
    assert np.all(np.diff(between) >= -1e-12)  # monotone: no overshoot between keys
    assert sched.intensity.min() >= -1e-12 and sched.intensity.max() <= 2.0 + 1e-12


def test_keys_without_emotion_animate_intensity_only():
    control = EmotionSettings(emotion="angry", keyframes=[Keyframe(0, intensity=0.0), Keyframe(10, intensity=1.0)])
    sched = resolve_schedule(control, 11, EMOTIONS)
    assert np.allclose(sched.weights[:, EMOTIONS.index("angry")], 1.0)
    assert sched.intensity[0] == 0.0 and sched.intensity[10] == 1.0 and 0 < sched.intensity[5] < 1


@pytest.mark.parametrize(("control", "message"), [
    (EmotionSettings(), "no target"),
    (EmotionSettings(emotion="happy", intensity=float("nan")), "intensity"),
    (EmotionSettings(emotion="happy", intensity=7.0), "between 0 and"),
    (EmotionSettings(emotion="happy", speech_preservation=1.5), "speech_preservation"),
    (EmotionSettings(reference_style=np.zeros(15)), "16 finite"),
    (EmotionSettings(emotion="happy", keyframes=[(3, "sad"), (3, "angry")]), "same frame"),
    (EmotionSettings(emotion="hapy"), "expected one of"),
])
def test_bad_controls_get_clear_errors(control, message):
    with pytest.raises(ValueError, match=message):
        resolve_schedule(control, 20, EMOTIONS)


def test_reference_style_wins_over_labels():
    ref = np.arange(16.0)
    sched = resolve_schedule(EmotionSettings(emotion="happy", reference_style=ref, intensity=0.5), 12, EMOTIONS)
    assert np.array_equal(sched.reference, ref)
    assert np.allclose(sched.intensity, 0.5)
