"""Procedural expression sequences for the synthetic actor and the synthetic emotional dataset.

Real emotional datasets (MEAD, Aff-Wild2) and the licensed FLAME model cannot be shipped or
downloaded here, yet the emotion manipulator needs data whose emotions are separable, whose speech
lives in the jaw, and whose actors differ, so that every part of the method (translation, style
encoding, the speech-preserving loss) has something real to learn. These generators give that:

* ``speech_jaw`` - the jaw opening of talking: syllable-like bursts at 3-6 Hz grouped into
  utterances separated by pauses, 0..~0.35 rad.
* ``blinks`` - eyelid closures at a human rate, as a 0..1 weight.
* ``emotion_expression_sequence`` - one clip's 51-d expression vectors (jaw opening first, then
  the 50 coefficients) for one emotion: the emotion's mean action weights from
  ``semantics.EMOTION_STYLES``, varied per clip and drifting slowly over time, plus small values on
  every other component and the blink component.
* ``mix_emotion_sequence`` - a clip whose emotion changes, cross-fading between segments.
* ``make_synthetic_dataset`` - labelled clips from several "actors", each with a personal bias of
  expression and gain, so that a style encoder has an actor/emotion split to learn.

Everything is driven by a ``numpy.random.Generator`` so results are repeatable from a seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ned_server.domains import EMOTIONS, EXPRESSION_DIM, emotion_index
from ned_server.synthetic.semantics import ACTIONS, EMOTION_JAW_OFFSET, EMOTION_STYLES, NUM_NAMED_ACTIONS

NUM_COEFFS = EXPRESSION_DIM - 1  # the 50 expression coefficients after the jaw opening
MAX_JAW = 0.35
BLINK = ACTIONS["blink"]


def _check_frames(num_frames: int) -> int:
    n = int(num_frames)
    if n < 1 or n != num_frames:
        raise ValueError(f"num_frames must be a positive integer, got {num_frames!r}")
    return n


def speech_jaw(num_frames: int, rng: np.random.Generator, fps: float = 25.0) -> np.ndarray:
    """Jaw opening (radians) of someone talking: utterances of syllable bursts, then pauses."""
    n = _check_frames(num_frames)
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    t = np.arange(n) / fps
    duration = n / fps
    jaw = np.zeros(n, dtype=np.float64)
    # Start either mid-utterance or mid-pause so clips do not all begin the same way.
    pos = -rng.uniform(0.0, 1.5)
    while pos < duration:
        utterance_end = pos + rng.uniform(0.8, 3.0)
        rate = rng.uniform(3.0, 6.0)
        s = pos
        while s < utterance_end and s < duration:
            length = 1.0 / (rate * rng.uniform(0.8, 1.25))
            amp = rng.uniform(0.06, 0.32)
            inside = (t >= s) & (t < s + length)
            phase = (t[inside] - s) / length
            jaw[inside] += amp * np.sin(np.pi * phase) ** 2
            s += length
        pos = s + rng.uniform(0.15, 0.8)
    jaw += rng.uniform(0.0, 0.02)  # lips at rest are rarely exactly shut
    return np.clip(jaw, 0.0, MAX_JAW)


def blinks(num_frames: int, rng: np.random.Generator, fps: float = 25.0) -> np.ndarray:
    """Blink weight 0..1 (1 = lids closed): fast closing, slower opening, every ~2-6 s."""
    n = _check_frames(num_frames)
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    t = np.arange(n) / fps
    weight = np.zeros(n, dtype=np.float64)
    start = rng.uniform(0.0, 3.0)
    while start < n / fps:
        close, hold, reopen = rng.uniform(0.05, 0.09), rng.uniform(0.0, 0.05), rng.uniform(0.1, 0.2)
        depth = rng.uniform(0.85, 1.0)
        u = t - start
        closing = (u >= 0) & (u < close)
        held = (u >= close) & (u < close + hold)
        opening = (u >= close + hold) & (u < close + hold + reopen)
        weight[closing] = np.maximum(weight[closing], depth * u[closing] / close)
        weight[held] = np.maximum(weight[held], depth)
        weight[opening] = np.maximum(weight[opening], depth * (1.0 - (u[opening] - close - hold) / reopen))
        start += max(0.5, rng.exponential(3.5))
    return np.clip(weight, 0.0, 1.0)


def _slow_drift(num_frames: int, rng: np.random.Generator, count: int, fps: float = 25.0) -> np.ndarray:
    """``count`` smooth zero-mean signals of unit-ish amplitude with periods of 2-10 s, (T, count)."""
    t = np.arange(num_frames)[:, None] / fps
    out = np.zeros((num_frames, count))
    for _ in range(3):
        period = rng.uniform(2.0, 10.0, size=count)
        phase = rng.uniform(0.0, 2 * np.pi, size=count)
        out += np.sin(2 * np.pi * t / period + phase) / np.sqrt(3.0)
    return out


def emotion_style_vector(emotion: str, intensity: float = 1.0) -> np.ndarray:
    """The emotion's mean 50-d expression coefficients (action weights placed at their indices)."""
    name = EMOTIONS[emotion_index(emotion)]
    vec = np.zeros(NUM_COEFFS)
    for action, weight in EMOTION_STYLES[name].items():
        vec[ACTIONS[action]] = weight * intensity
    return vec


def emotion_expression_sequence(
    emotion: str,
    num_frames: int,
    rng: np.random.Generator,
    intensity: float = 1.0,
    speech: np.ndarray | None = None,
    bias: np.ndarray | None = None,
) -> np.ndarray:
    """One clip of (T, 51) expression vectors showing ``emotion`` while talking.

    ``speech`` is the jaw opening to keep (drawn with ``speech_jaw`` when None); ``bias`` is an
    optional (50,) personal offset of the actor, added to the coefficients.
    """
    name = EMOTIONS[emotion_index(emotion)]
    n = _check_frames(num_frames)
    if not np.isfinite(intensity):
        raise ValueError(f"intensity must be finite, got {intensity}")
    if speech is None:
        speech = speech_jaw(n, rng)
    speech = np.asarray(speech, dtype=np.float64)
    if speech.shape != (n,):
        raise ValueError(f"speech must have shape ({n},) (one jaw opening per frame), got {speech.shape}")
    out = np.zeros((n, EXPRESSION_DIM))
    out[:, 0] = np.clip(speech + EMOTION_JAW_OFFSET[name] * intensity, 0.0, None)

    coeffs = np.zeros((n, NUM_COEFFS))
    # The emotion's actions: a per-clip weight variation and a slow drift over time.
    style = emotion_style_vector(name, intensity)
    active = np.flatnonzero(style)
    if active.size:
        per_clip = np.clip(rng.normal(1.0, 0.12, size=active.size), 0.7, 1.3)
        drift = 1.0 + 0.12 * _slow_drift(n, rng, active.size)
        coeffs[:, active] = style[active] * per_clip * drift
    # Everything else: small static offsets and small slow motion.
    others = np.setdiff1d(np.arange(NUM_COEFFS), np.append(active, BLINK))
    small = np.where(others < NUM_NAMED_ACTIONS, 0.12, 0.06)
    coeffs[:, others] += rng.normal(0.0, small) + 0.5 * small * _slow_drift(n, rng, others.size)
    if bias is not None:
        bias = np.asarray(bias, dtype=np.float64)
        if bias.shape != (NUM_COEFFS,):
            raise ValueError(f"bias must have shape ({NUM_COEFFS},), got {bias.shape}")
        coeffs += bias
    coeffs[:, BLINK] = blinks(n, rng)
    coeffs += rng.normal(0.0, 0.01, size=coeffs.shape)  # tracker noise
    out[:, 1:] = coeffs
    return out.astype(np.float32)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def mix_emotion_sequence(
    segments: Sequence[tuple[str, int]],
    rng: np.random.Generator,
    transition_frames: int = 12,
    intensity: float = 1.0,
    speech: np.ndarray | None = None,
    bias: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A clip whose emotion changes: ``segments`` = [(emotion, frames), ...], cross-faded smoothly.

    Returns the (T, 51) expressions and (T,) labels (index in EMOTIONS of the dominant emotion).
    The jaw keeps one speech track throughout, and blinks are drawn once for the whole clip.
    """
    if not segments:
        raise ValueError("segments must hold at least one (emotion, frames) pair")
    lengths = [_check_frames(f) for _, f in segments]
    n = int(sum(lengths))
    if speech is None:
        speech = speech_jaw(n, rng)
    weights = np.zeros((len(segments), n))
    bounds = np.cumsum([0, *lengths])
    frames = np.arange(n) + 0.5
    half = max(transition_frames, 1) / 2.0
    for k in range(len(segments)):
        rise = 1.0 if k == 0 else _smoothstep((frames - (bounds[k] - half)) / (2 * half))
        fall = 1.0 if k == len(segments) - 1 else 1.0 - _smoothstep((frames - (bounds[k + 1] - half)) / (2 * half))
        weights[k] = rise * fall
    weights /= weights.sum(axis=0, keepdims=True)
    expr = np.zeros((n, EXPRESSION_DIM))
    for k, (emotion, _) in enumerate(segments):
        expr += weights[k][:, None] * emotion_expression_sequence(emotion, n, rng, intensity, speech, bias)
    expr[:, 1 + BLINK] = blinks(n, rng)
    labels = np.array([emotion_index(segments[k][0]) for k in weights.argmax(axis=0)], dtype=np.int64)
    return expr.astype(np.float32), labels


@dataclass
class SyntheticExpressionDataset:
    """Labelled clips: ``sequences`` (N, T, 51) float32, ``labels`` (N,) EMOTIONS indices,
    ``actors`` (N,) actor ids, ``intensities`` (N,) the intensity each clip was drawn with."""

    sequences: np.ndarray
    labels: np.ndarray
    actors: np.ndarray
    intensities: np.ndarray


def actor_bias(rng: np.random.Generator) -> tuple[np.ndarray, float, float]:
    """A synthetic actor's personal traits: coefficient bias (50,), expressiveness gain, jaw scale."""
    bias = np.zeros(NUM_COEFFS)
    bias[:NUM_NAMED_ACTIONS] = rng.normal(0.0, 0.25, size=NUM_NAMED_ACTIONS)
    bias[NUM_NAMED_ACTIONS:] = rng.normal(0.0, 0.1, size=NUM_COEFFS - NUM_NAMED_ACTIONS)
    bias[BLINK] = 0.0
    return bias, float(rng.uniform(0.85, 1.15)), float(rng.uniform(0.8, 1.15))


def make_synthetic_dataset(
    num_clips_per_emotion: int,
    frames: int,
    seed: int = 0,
    num_actors: int = 4,
    emotions: Sequence[str] = EMOTIONS,
    intensity_range: tuple[float, float] = (0.75, 1.25),
) -> SyntheticExpressionDataset:
    """Clips of every emotion from ``num_actors`` actors (actors cycle through the clips)."""
    if num_clips_per_emotion < 1 or num_actors < 1:
        raise ValueError("num_clips_per_emotion and num_actors must be at least 1")
    n = _check_frames(frames)
    rng = np.random.default_rng(seed)
    traits = [actor_bias(rng) for _ in range(num_actors)]
    seqs, labels, actors, intens = [], [], [], []
    for e in emotions:
        label = emotion_index(e)
        for i in range(num_clips_per_emotion):
            a = i % num_actors
            bias, gain, jaw_scale = traits[a]
            intensity = float(rng.uniform(*intensity_range)) * gain
            speech = np.clip(speech_jaw(n, rng) * jaw_scale, 0.0, MAX_JAW)
            seqs.append(emotion_expression_sequence(e, n, rng, intensity, speech, bias))
            labels.append(label)
            actors.append(a)
            intens.append(intensity)
    return SyntheticExpressionDataset(np.stack(seqs), np.array(labels, dtype=np.int64),
                                      np.array(actors, dtype=np.int64), np.array(intens))
