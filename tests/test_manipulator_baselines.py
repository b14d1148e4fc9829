"""The benchmark's baselines on hand-made cases: chance, copy-the-input and the mean shift are
measurements, not constants (a chance figure that is 1/7 by construction measured nothing)."""

from __future__ import annotations

import numpy as np
import pytest

from ned_server.domains import EMOTIONS, EXPRESSION_DIM
from ned_server.manipulator.dataset import ExpressionDataset
from ned_server.manipulator.evaluation import (
    NUM_FEATURES,
    chance_accuracy,
    emotion_means,
    mean_shift,
    score_rule,
    score_translations,
    translation_pairs,
    window_features,
)


class MeanReader:
    """A judge by hand: the emotion is the index of the largest mean among coefficients 1..K."""

    def __init__(self, k: int) -> None:
        self.k = k

    def predict_clip(self, expr: np.ndarray, seq_len: int = 10) -> int:
        return int(np.argmax(np.asarray(expr)[:, 1:1 + self.k].mean(axis=0)))


class Identity:
    """A manipulator that changes nothing."""

    def extract_style(self, expr: np.ndarray) -> np.ndarray:
        return np.zeros(16, np.float32)

    def translate(self, expr: np.ndarray, control: object) -> np.ndarray:
        return np.asarray(expr, np.float32).copy()


def clip(emotion: int, frames: int = 20, jaw_phase: float = 0.0) -> np.ndarray:
    x = np.zeros((frames, EXPRESSION_DIM), np.float32)
    x[:, 0] = 0.1 + 0.1 * np.sin(np.arange(frames) / 2.0 + jaw_phase)
    x[:, 1 + emotion] = 2.0
    return x


def test_chance_is_the_overlap_of_answer_and_target_shares():
    assert chance_accuracy([0, 0, 1, 1], [0, 1, 0, 1], 2) == pytest.approx(0.5)
    assert chance_accuracy([0, 0, 0], [0, 1, 2], 3) == pytest.approx(1 / 3)
    assert chance_accuracy([0, 0, 0], [1, 1, 2], 3) == 0.0
    assert chance_accuracy([2, 2, 0, 1], [2, 2, 2, 2], 3) == pytest.approx(0.5)


def test_pairs_leave_out_the_clips_own_emotion_when_it_is_known():
    assert translation_pairs(2, 3, None) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert translation_pairs(2, 3, [1, 2]) == [(0, 0), (0, 2), (1, 0), (1, 1)]


def test_mean_shift_moves_the_mean_and_keeps_the_motion():
    x = clip(0)
    target = np.linspace(-1, 1, EXPRESSION_DIM).astype(np.float32)
    y = mean_shift(x, target)
    assert np.allclose(y.mean(axis=0), target, atol=1e-6)
    assert np.allclose(y - y.mean(axis=0), x - x.mean(axis=0), atol=1e-6)


def test_emotion_means_average_frames_per_label():
    data = ExpressionDataset.from_arrays([np.full((4, 51), 1.0), np.full((2, 51), 4.0), np.full((3, 51), 7.0)],
                                         [2, 2, 5])
    means = emotion_means(data)
    assert means.shape == (len(EMOTIONS), 51)
    assert np.allclose(means[2], 2.0) and np.allclose(means[5], 7.0)  # (4*1 + 2*4) / 6 = 2
    assert np.isnan(means[0]).all()


def test_scores_of_the_rules_on_a_hand_made_judge():
    k = 3
    clips = [clip(0), clip(1, jaw_phase=1.0), clip(2, jaw_phase=2.0)]
    labels = [0, 1, 2]
    judge = MeanReader(k)
    pairs = translation_pairs(len(clips), k, labels)
    emotions = EMOTIONS[:k]
    # Copying the input never reaches another emotion: accuracy 0, jaw kept exactly.
    copy = score_rule(lambda i, x, t: x, judge, clips, pairs, emotions)
    assert copy.mean_accuracy == 0.0 and copy.jaw_correlation == pytest.approx(1.0)
    # The mean shift to perfect means fools a judge that reads means: accuracy 1, jaw kept.
    means = np.zeros((k, EXPRESSION_DIM))
    for e in range(k):
        means[e, 1 + e] = 2.0
    shift = score_rule(lambda i, x, t: mean_shift(x, means[t]), judge, clips, pairs, emotions)
    assert shift.mean_accuracy == 1.0 and shift.jaw_correlation == pytest.approx(1.0)
    # A rule that reaches only "angry" (index 1): right for the pairs targeting it, wrong otherwise.
    only = score_rule(lambda i, x, t: mean_shift(x, means[1]), judge, clips, pairs, emotions)
    assert only.accuracy == {"neutral": 0.0, "angry": 1.0, "disgusted": 0.0}


def test_score_translations_reports_the_baselines_beside_a_do_nothing_manipulator():
    k = 3
    clips = [clip(0), clip(0, jaw_phase=1.0), clip(1, jaw_phase=2.0)]
    labels = [0, 0, 1]
    means = np.zeros((k, EXPRESSION_DIM))
    for e in range(k):
        means[e, 1 + e] = 2.0
    scores = score_translations(Identity(), MeanReader(k), clips, EMOTIONS[:k], labels=labels, means=means)
    assert scores.mean_accuracy == scores.copy_accuracy == 0.0
    assert scores.jaw_correlation == pytest.approx(1.0)
    assert scores.cycle_error == 0.0 and scores.change == 0.0
    # pairs: clip 0 -> 1, 2; clip 1 -> 1, 2; clip 2 -> 0, 2. Judge answers 0, 0, 1 on the inputs.
    # answer shares (4/6 of 0, 2/6 of 1) x target shares (1/6 of 0, 2/6 of 1, 3/6 of 2) = 4/36 + 4/36.
    assert scores.chance_accuracy == pytest.approx(8 / 36)
    assert scores.mean_shift is not None and scores.mean_shift.mean_accuracy == 1.0


def test_the_judge_sees_the_window_s_motion_not_only_its_mean():
    still = np.zeros((1, 10, EXPRESSION_DIM), np.float32)
    moving = still.copy()
    moving[0, :, 1] = np.tile([1.0, -1.0], 5)  # same mean (0), a smile coefficient beating
    f_still, f_moving = window_features(still), window_features(moving)
    assert f_still.shape == (1, NUM_FEATURES)
    assert np.allclose(f_still[:, :EXPRESSION_DIM], f_moving[:, :EXPRESSION_DIM])
    assert not np.allclose(f_still.numpy(), f_moving.numpy())
