"""Judging a trained manipulator without people: an independent emotion classifier, speech metrics,
and the baselines every figure is read against.

The classifier is deliberately *not* the GAN's discriminator: it is a separate small MLP on window
features trained on real labelled sequences only (of other actors than the manipulator's), so a
translation counts as "angry" only if it looks like real angry data to a model that never saw the
manipulator. It sees windows, not only means: per window the coefficients' means, the spread over
the window of the jaw and the named facial actions (the emotions' dynamics: brow flashes, tremors,
a smile narrowing on "oo") and the named actions' covariation with the jaw (how the face moves
with speech). Not the other coefficients' frame-to-frame spread, which is mostly tracker noise that
the Gaussian overlap-merge removes by design - a judge keyed on noise level would call every smooth
sequence "not real" whatever its expression. The jaw metric is the Pearson correlation over a whole
clip between input and output jaw opening (speech kept = high correlation).

Baselines, scored on the same (clip, target) pairs as the manipulator (targets other than the
clip's own emotion when the labels are known, else every target):

* ``chance``: what the judge's answers score when they are unrelated to the target: the sum over
  emotions of (share of the judge's answers on the untranslated clips) x (share of the pairs with
  that target). With every target for every clip this is 1/K; without the own emotion it is not.
* ``copy`` (the input returned unchanged): the speech baseline (jaw correlation 1, no change).
* ``mean_shift``: subtract the clip's mean, add the target emotion's mean over the manipulator's
  training data. A network-free translation: the manipulator has to beat it on accuracy at equal
  jaw correlation to show it learned more than a shift.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ned_server.domains import EMOTIONS, EXPRESSION_DIM, JAW_INDEX
from ned_server.manipulator.controls import EmotionSettings
from ned_server.manipulator.dataset import ExpressionDataset
from ned_server.manipulator.inference import EmotionManipulator
from ned_server.manipulator.windows import sliding_windows

# The judge's dynamic features cover the jaw and the named actions of the expression vector (the
# procedural model's; on a PCA basis they are simply its 15 strongest components).
DYNAMIC_DIMS = 16  # jaw + 15 coefficients
NUM_FEATURES = EXPRESSION_DIM + DYNAMIC_DIMS + (DYNAMIC_DIMS - 1)


def window_features(windows: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(B, N, 51) -> (B, NUM_FEATURES): per-coefficient means over the window; the standard
    deviation of the jaw and of the first 15 coefficients; their covariance with the jaw (scaled
    by the jaw's spread, plus a floor so a still jaw gives 0 and not noise)."""
    w = torch.as_tensor(np.asarray(windows, dtype=np.float32)) if isinstance(windows, np.ndarray) else windows
    mean = w.mean(dim=1)
    dyn = w[:, :, :DYNAMIC_DIMS] - mean[:, None, :DYNAMIC_DIMS]
    std = dyn.pow(2).mean(dim=1).sqrt()
    jaw = dyn[:, :, JAW_INDEX:JAW_INDEX + 1]
    cov = (dyn[:, :, 1:] * jaw).mean(dim=1) / (std[:, JAW_INDEX:JAW_INDEX + 1] + 0.02)
    return torch.cat([mean, std, cov], dim=1)


class EmotionClassifier(nn.Module):
    def __init__(self, num_classes: int = len(EMOTIONS), hidden: int = 64) -> None:
        super().__init__()
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.zeros(NUM_FEATURES))
        self.register_buffer("std", torch.ones(NUM_FEATURES))
        self.net = nn.Sequential(nn.Linear(NUM_FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                 nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.net((window_features(windows) - self.mean) / self.std)

    @torch.no_grad()
    def clip_probabilities(self, expr: np.ndarray, seq_len: int = 10) -> np.ndarray:
        """Mean class probabilities over every window of a clip: (K,)."""
        self.eval()
        w = sliding_windows(np.asarray(expr, dtype=np.float32), seq_len)
        return torch.softmax(self(torch.from_numpy(np.ascontiguousarray(w))), dim=1).mean(dim=0).numpy()

    def predict_clip(self, expr: np.ndarray, seq_len: int = 10) -> int:
        return int(np.argmax(self.clip_probabilities(expr, seq_len)))


def train_emotion_classifier(dataset: ExpressionDataset, seq_len: int = 10, steps: int = 300,
                             batch_size: int = 128, seed: int = 0) -> EmotionClassifier:
    """A small MLP classifier of windows, trained on real labelled sequences."""
    idx = dataset.windows(seq_len, stride=2)
    feats = window_features(dataset.gather(idx.starts, seq_len))
    labels = torch.from_numpy(idx.labels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        clf = EmotionClassifier(len(dataset.emotions))
    clf.mean.copy_(feats.mean(dim=0))
    clf.std.copy_(feats.std(dim=0).clamp_min(1e-4))
    opt = torch.optim.Adam(clf.net.parameters(), lr=3e-3)
    rng = np.random.default_rng(seed)
    windows = torch.from_numpy(dataset.gather(idx.starts, seq_len))
    clf.train()
    for _ in range(steps):
        pick = torch.from_numpy(rng.integers(0, labels.shape[0], size=batch_size))
        loss = nn.functional.cross_entropy(clf(windows[pick]), labels[pick])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return clf.eval()


def jaw_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation over time of two clips' jaw openings (NaN if one does not move)."""
    ja, jb = np.asarray(a)[:, JAW_INDEX].astype(np.float64), np.asarray(b)[:, JAW_INDEX].astype(np.float64)
    ja, jb = ja - ja.mean(), jb - jb.mean()
    den = np.sqrt((ja * ja).sum() * (jb * jb).sum())
    return float((ja * jb).sum() / den) if den > 0 else float("nan")


def emotion_means(dataset: ExpressionDataset) -> np.ndarray:
    """(K, 51): each emotion's mean expression vector over the usable frames of ``dataset``
    (NaN rows for emotions it lacks): what the mean-shift baseline moves a clip to."""
    k = len(dataset.emotions)
    sums = np.zeros((k, EXPRESSION_DIM))
    counts = np.zeros(k)
    for clip in dataset.clips:
        ok = clip.labels >= 0
        for label in np.unique(clip.labels[ok]):
            rows = clip.expression[clip.labels == label].astype(np.float64)
            sums[label] += rows.sum(axis=0)
            counts[label] += rows.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts[:, None]


def mean_shift(expr: np.ndarray, target_mean: np.ndarray) -> np.ndarray:
    """The mean-shift baseline: the clip minus its own mean plus the target emotion's mean."""
    x = np.asarray(expr, dtype=np.float64)
    return (x - x.mean(axis=0) + np.asarray(target_mean, dtype=np.float64)).astype(np.float32)


def chance_accuracy(predicted: Sequence[int], targets: Sequence[int], num_classes: int) -> float:
    """Accuracy of answers unrelated to the targets: sum_k share(predicted = k) * share(target = k)."""
    p = np.bincount(np.asarray(predicted, dtype=np.int64), minlength=num_classes) / max(len(predicted), 1)
    t = np.bincount(np.asarray(targets, dtype=np.int64), minlength=num_classes) / max(len(targets), 1)
    return float((p * t).sum())


def translation_pairs(num_clips: int, num_targets: int, labels: Sequence[int] | None) -> list[tuple[int, int]]:
    """(clip, target) pairs to score: every target, less each clip's own emotion when labels are known."""
    return [(i, t) for i in range(num_clips) for t in range(num_targets) if labels is None or t != int(labels[i])]


Translate = Callable[[int, np.ndarray, int], np.ndarray]  # (clip index, clip, target) -> translated clip


@dataclass
class BaselineScores:
    """One translation rule's scores on the benchmark's pairs."""

    accuracy: dict[str, float]  # per target emotion
    mean_accuracy: float
    jaw_correlation: float


def score_rule(translate: Translate, classifier: EmotionClassifier, clips: Sequence[np.ndarray],
               pairs: Sequence[tuple[int, int]], emotions: Sequence[str] = EMOTIONS) -> BaselineScores:
    """Accuracy per target and jaw correlation of a network-free rule on ``pairs``."""
    hits: dict[str, list[bool]] = {e: [] for e in emotions}
    corr = []
    for i, t in pairs:
        out = translate(i, clips[i], t)
        hits[emotions[t]].append(classifier.predict_clip(out) == t)
        corr.append(jaw_correlation(clips[i], out))
    acc = {e: float(np.mean(h)) for e, h in hits.items() if h}
    return BaselineScores(acc, float(np.mean(list(acc.values()))), float(np.nanmean(corr)))


@dataclass
class TranslationScores:
    jaw_correlation: float  # mean over the scored pairs
    accuracy: dict[str, float]  # per target emotion: classifier says the target
    mean_accuracy: float
    chance_accuracy: float  # answers unrelated to the target (see the module docstring)
    copy_accuracy: float  # the untranslated inputs judged against the same targets
    cycle_error: float  # mean |back-translated - input| over all coefficients
    change: float  # mean |translated - input|, for scale
    identity_error: float  # mean |translated at intensity 0 - input|: what "no change" really changes
    copy_jaw_correlation: float = 1.0  # of the untranslated inputs (measured, 1 unless a clip's jaw is still)
    mean_shift: BaselineScores | None = None  # when the emotion means were given


def score_translations(manipulator: EmotionManipulator, classifier: EmotionClassifier, clips: Sequence[np.ndarray],
                       emotions: Sequence[str] = EMOTIONS, seed: int = 0, labels: Sequence[int] | None = None,
                       means: np.ndarray | None = None) -> TranslationScores:
    """Translate clips to emotions (no speech blending) and score the results and the baselines.

    Clip i uses the mapping network's latent for ``seed + i``, so the scores cover the style
    distribution of each emotion rather than one sample of it. With ``labels`` (the clips' own
    emotions) a clip is not scored on its own emotion; with ``means`` (``emotion_means`` of the
    manipulator's training data) the mean-shift baseline is scored on the same pairs."""
    emotions = list(emotions)
    pairs = translation_pairs(len(clips), len(emotions), labels)
    hits: dict[str, list[bool]] = {e: [] for e in emotions}
    corr, cyc, change, ident = [], [], [], []
    source_pred = [classifier.predict_clip(expr) for expr in clips]
    owns: dict[int, np.ndarray] = {}
    for i, target in pairs:
        expr = clips[i]
        if i not in owns:
            owns[i] = manipulator.extract_style(expr)
            same = manipulator.translate(expr, EmotionSettings(emotion=emotions[0], intensity=0.0,
                                                              speech_preservation=0.0))
            ident.append(float(np.abs(same - expr).mean()))
        out = manipulator.translate(expr, EmotionSettings(emotion=emotions[target], seed=seed + i,
                                                         speech_preservation=0.0))
        corr.append(jaw_correlation(expr, out))
        hits[emotions[target]].append(classifier.predict_clip(out) == target)
        back = manipulator.translate(out, EmotionSettings(reference_style=owns[i], speech_preservation=0.0))
        cyc.append(float(np.abs(back - expr).mean()))
        change.append(float(np.abs(out - expr).mean()))
    acc = {e: float(np.mean(h)) for e, h in hits.items() if h}
    copy = score_rule(lambda i, x, t: x, classifier, clips, pairs, emotions)
    chance = chance_accuracy([source_pred[i] for i, _ in pairs], [t for _, t in pairs], len(emotions))
    shift = None
    if means is not None:
        shift = score_rule(lambda i, x, t: mean_shift(x, means[t]), classifier, clips, pairs, emotions)
    return TranslationScores(float(np.nanmean(corr)), acc, float(np.mean(list(acc.values()))), chance,
                             copy.mean_accuracy, float(np.mean(cyc)), float(np.mean(change)),
                             float(np.mean(ident)), copy.jaw_correlation, shift)
