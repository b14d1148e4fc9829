"""Procedural expression sequences for the synthetic actor and the synthetic emotional dataset.

Real emotional datasets (MEAD, Aff-Wild2) and the licensed FLAME model cannot be shipped or
downloaded here, yet the emotion manipulator needs data whose emotions are separable, whose speech
lives in the jaw, and whose actors differ, so that every part of the method (translation, style
encoding, the speech-preserving loss) has something real to learn. These generators give that:

* ``speech_jaw`` - the jaw opening of talking: syllable-like bursts at 3-6 Hz grouped into
  utterances separated by pauses, 0..~0.35 rad.
* ``blinks`` - eyelid closures at a human rate, as a 0..1 weight.
* ``speech_rounding`` - the lip rounding of the "oo" syllables of a jaw track, 0..1.
* ``emotion_envelope`` - an emotion's intensity over a clip: episodes of onset, apex and offset,
  falling back to a resting level in between.
* ``emotion_expression_sequence`` - one clip's 51-d expression vectors (jaw opening first, then
  the 50 coefficients) for one emotion, as ``semantics`` describes it: the actor's version of the
  emotion's action weights under its envelope, the speech interactions (a smile narrows on "oo",
  surprise drops the jaw only between syllables), the emotion's brow motion and blink rate, plus
  small values on every other component.
* ``mix_emotion_sequence`` - a clip whose emotion changes, cross-fading between segments.
* ``make_synthetic_dataset`` - labelled clips from several "actors", each with a personal bias of
  expression and gain and a personal style of every emotion (``ActorStyle``: other weights, a
  secondary action, a one-sided smile and brow), so that two actors' "happy" differ and a style
  encoder has an actor/emotion split to learn.

Everything is driven by a ``numpy.random.Generator`` so results are repeatable from a seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ned_server.domains import EMOTIONS, EXPRESSION_DIM, emotion_index
from ned_server.synthetic.semantics import (
    ACTIONS,
    EMOTION_DYNAMICS,
    EMOTION_JAW_OFFSET,
    EMOTION_STYLES,
    NUM_NAMED_ACTIONS,
    ROUNDING_PUCKER,
    EmotionDynamics,
)

NUM_COEFFS = EXPRESSION_DIM - 1  # the 50 expression coefficients after the jaw opening
MAX_JAW = 0.35
BLINK = ACTIONS["blink"]
FPS = 25.0
# Actions an actor's personal version of an emotion may add as a secondary action.
_SECONDARY = tuple(a for a in ACTIONS if a not in ("blink", "smile_asym", "brow_asym"))


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


def blinks(num_frames: int, rng: np.random.Generator, fps: float = 25.0, per_second: float = 0.28,
           hold_s: float = 0.025) -> np.ndarray:
    """Blink weight 0..1 (1 = lids closed): fast closing, slower opening, ``per_second`` on average
    (at least 0.5 s apart), lids held shut for about ``hold_s``."""
    n = _check_frames(num_frames)
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if not per_second > 0 or not hold_s >= 0:
        raise ValueError(f"blink rate must be positive and hold time non-negative, got {per_second}, {hold_s}")
    t = np.arange(n) / fps
    weight = np.zeros(n, dtype=np.float64)
    start = rng.uniform(0.0, 3.0)
    while start < n / fps:
        close, hold, reopen = rng.uniform(0.05, 0.09), rng.uniform(0.0, 2.0 * hold_s), rng.uniform(0.1, 0.2)
        depth = rng.uniform(0.85, 1.0)
        u = t - start
        closing = (u >= 0) & (u < close)
        held = (u >= close) & (u < close + hold)
        opening = (u >= close + hold) & (u < close + hold + reopen)
        weight[closing] = np.maximum(weight[closing], depth * u[closing] / close)
        weight[held] = np.maximum(weight[held], depth)
        weight[opening] = np.maximum(weight[opening], depth * (1.0 - (u[opening] - close - hold) / reopen))
        start += max(0.5, rng.exponential(1.0 / per_second))
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
    """The emotion's canonical apex 50-d expression coefficients (action weights at their indices)."""
    name = EMOTIONS[emotion_index(emotion)]
    vec = np.zeros(NUM_COEFFS)
    for action, weight in EMOTION_STYLES[name].items():
        vec[ACTIONS[action]] = weight * intensity
    return vec


@dataclass(frozen=True)
class ActorStyle:
    """One actor's personal way of showing the emotions: per emotion the apex coefficients of their
    version (``apex``), how one-sided their smile and brow are (``asymmetry``, -1..1, + = the actor's
    left side) and how often they blink against the emotion's rate (``blink_scale``)."""

    apex: Mapping[str, np.ndarray] = field(default_factory=dict)
    asymmetry: float = 0.0
    blink_scale: float = 1.0

    def apex_of(self, emotion: str) -> np.ndarray:
        vec = self.apex.get(emotion)
        if vec is None:
            vec = emotion_style_vector(emotion)
        out = np.array(vec, dtype=np.float64)
        out[ACTIONS["smile_asym"]] += self.asymmetry * out[ACTIONS["smile"]]
        out[ACTIONS["brow_asym"]] += 0.6 * self.asymmetry * out[ACTIONS["brow_raise"]]
        return out


CANONICAL_STYLE = ActorStyle()


def actor_style(rng: np.random.Generator) -> ActorStyle:
    """A random actor's versions of the emotions: each action of the canonical style re-weighted
    (x0.6-1.4), one secondary action of their own per emotion, a one-sided smile and brow."""
    apex = {}
    for emotion in EMOTIONS:
        vec = emotion_style_vector(emotion)
        active = np.flatnonzero(vec)
        vec[active] *= rng.uniform(0.6, 1.4, size=active.size)
        if active.size:
            extra = ACTIONS[_SECONDARY[int(rng.integers(len(_SECONDARY)))]]
            vec[extra] += rng.normal(0.0, 0.7)
        apex[emotion] = vec
    return ActorStyle(apex, float(rng.uniform(-0.6, 0.6)), float(rng.uniform(0.7, 1.4)))


def _gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return x
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    return np.convolve(np.pad(x, r, mode="edge"), k, mode="valid")


def speech_rounding(jaw: np.ndarray, rng: np.random.Generator, fps: float = FPS, share: float = 0.3) -> np.ndarray:
    """Lip rounding 0..1 of the "oo" syllables of a jaw track: about ``share`` of the syllable peaks
    (local jaw maxima) are rounded, with a bump of ~0.15 s around the peak."""
    jaw = np.asarray(jaw, dtype=np.float64)
    n = jaw.shape[0]
    out = np.zeros(n)
    if n < 3:
        return out
    peaks = np.flatnonzero((jaw[1:-1] > jaw[:-2]) & (jaw[1:-1] >= jaw[2:]) & (jaw[1:-1] > 0.05)) + 1
    t = np.arange(n) / fps
    for p in peaks[rng.random(peaks.size) < share]:
        out = np.maximum(out, rng.uniform(0.6, 1.0) * np.exp(-(((t - p / fps) / 0.06) ** 2)))
    return out


def _pauses(jaw: np.ndarray) -> np.ndarray:
    """1 where the mouth rests (between syllables and utterances), 0 mid-syllable."""
    rest = float(np.percentile(jaw, 5)) if jaw.size else 0.0
    return 1.0 - np.clip((_gaussian_smooth(jaw, 1.0) - rest) / 0.12, 0.0, 1.0)


def emotion_envelope(num_frames: int, rng: np.random.Generator, dynamics: EmotionDynamics | None = None,
                     fps: float = FPS) -> np.ndarray:
    """An emotion's intensity 0..1 over a clip: episodes of onset (rise to the apex), apex (held, 1),
    offset (decay to a resting level, ``dynamics.rest``), then a rest before the next episode.
    A clip may start anywhere in an episode."""
    n = _check_frames(num_frames)
    d = dynamics or EmotionDynamics()
    duration = n / fps
    times, levels = [], []
    t = -rng.uniform(0.0, 2.5)
    level = rng.uniform(*d.rest)
    times.append(t)
    levels.append(level)
    while t < duration:
        t += rng.uniform(*d.onset_s)
        times.append(t)
        levels.append(1.0)
        t += rng.uniform(*d.apex_s)
        times.append(t)
        levels.append(rng.uniform(0.85, 1.0))
        t += rng.uniform(*d.offset_s)
        level = rng.uniform(*d.rest)
        times.append(t)
        levels.append(level)
        t += rng.uniform(0.3, 2.0)
        times.append(t)
        levels.append(level)
    env = np.interp(np.arange(n) / fps, times, levels)
    return np.clip(_gaussian_smooth(env, 2.0), 0.0, 1.0)


def _brow_motion(kind: str, jaw: np.ndarray, env: np.ndarray, rng: np.random.Generator, fps: float) -> np.ndarray:
    """The emotion's own brow movement (``EmotionDynamics.brow``), 0..~1 before its gain."""
    n = jaw.shape[0]
    t = np.arange(n) / fps
    if kind == "flash":  # short raises at utterance starts, and now and then
        speaking = _gaussian_smooth(jaw, 4.0) > 0.05
        starts = np.flatnonzero(speaking[1:] & ~speaking[:-1]) + 1
        starts = np.concatenate([starts[rng.random(starts.size) < 0.7], rng.integers(0, n, size=max(1, n // 100))])
        out = np.zeros(n)
        for s in starts:
            width = rng.uniform(0.12, 0.25)
            out = np.maximum(out, rng.uniform(0.6, 1.0) * np.exp(-(((t - s / fps - width) / width) ** 2)))
        return out
    if kind == "stress":  # follows the syllables' stress
        return env * _gaussian_smooth(jaw, 1.5) / MAX_JAW
    if kind == "tremor":  # a 1.5-3 Hz wavering
        f, phase = rng.uniform(1.5, 3.0), rng.uniform(0, 2 * np.pi)
        return env * 0.5 * (1.0 + np.sin(2 * np.pi * f * t + phase))
    return np.zeros(n)


def emotion_expression_sequence(
    emotion: str,
    num_frames: int,
    rng: np.random.Generator,
    intensity: float = 1.0,
    speech: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    style: ActorStyle | None = None,
    envelope: np.ndarray | None = None,
) -> np.ndarray:
    """One clip of (T, 51) expression vectors showing ``emotion`` while talking (see the module docstring).

    ``speech`` is the speech's jaw opening (drawn with ``speech_jaw`` when None); ``bias`` is an
    optional (50,) personal offset of the actor, added to the coefficients; ``style`` the actor's
    versions of the emotions (the canonical ones when None); ``envelope`` the emotion's intensity
    over time, 0..1 (drawn with ``emotion_envelope`` when None).
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
    dyn = EMOTION_DYNAMICS[name]
    style = style or CANONICAL_STYLE
    env = emotion_envelope(n, rng, dyn) if envelope is None else np.asarray(envelope, dtype=np.float64)
    if env.shape != (n,):
        raise ValueError(f"envelope must have shape ({n},), got {env.shape}")
    rounding = speech_rounding(speech, rng)
    out = np.zeros((n, EXPRESSION_DIM))
    jaw = speech + EMOTION_JAW_OFFSET[name] * intensity + dyn.pause_jaw * intensity * env * _pauses(speech)
    out[:, 0] = np.clip(jaw, 0.0, None)

    coeffs = np.zeros((n, NUM_COEFFS))
    # The actor's version of the emotion under its envelope, with a per-clip variation and a slow drift.
    apex = style.apex_of(name) * intensity
    active = np.flatnonzero(apex)
    if active.size:
        per_clip = np.clip(rng.normal(1.0, 0.1, size=active.size), 0.75, 1.25)
        drift = 1.0 + 0.08 * _slow_drift(n, rng, active.size)
        coeffs[:, active] = apex[active] * per_clip * drift * env[:, None]
    # Speech: an "oo" rounds the lips, and takes away part of a smile.
    narrowing = 1.0 - dyn.smile_rounding * rounding
    for action in ("smile", "smile_asym"):
        coeffs[:, ACTIONS[action]] *= narrowing
    coeffs[:, ACTIONS["pucker"]] += ROUNDING_PUCKER * rounding
    # The emotion's brow (or nose) motion.
    if dyn.brow:
        coeffs[:, ACTIONS[dyn.brow_action]] += dyn.brow_gain * intensity * _brow_motion(dyn.brow, speech, env, rng,
                                                                                         FPS)
    # Everything else: small static offsets and small slow motion.
    moving = np.append(active, [BLINK, ACTIONS["pucker"]] + ([ACTIONS[dyn.brow_action]] if dyn.brow else []))
    others = np.setdiff1d(np.arange(NUM_COEFFS), moving)
    small = np.where(others < NUM_NAMED_ACTIONS, 0.12, 0.06)
    coeffs[:, others] += rng.normal(0.0, small) + 0.5 * small * _slow_drift(n, rng, others.size)
    if bias is not None:
        bias = np.asarray(bias, dtype=np.float64)
        if bias.shape != (NUM_COEFFS,):
            raise ValueError(f"bias must have shape ({NUM_COEFFS},), got {bias.shape}")
        coeffs += bias
    coeffs[:, BLINK] = blinks(n, rng, per_second=dyn.blinks_per_s * style.blink_scale, hold_s=dyn.blink_hold_s)
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
    style: ActorStyle | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A clip whose emotion changes: ``segments`` = [(emotion, frames), ...], cross-faded smoothly.

    Returns the (T, 51) expressions and (T,) labels (index in EMOTIONS of the dominant emotion).
    The jaw keeps one speech track throughout; blinks follow the dominant emotion's rate.
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
    dominant = weights.argmax(axis=0)
    blink = np.zeros(n)
    for k, (emotion, _) in enumerate(segments):
        clip = emotion_expression_sequence(emotion, n, rng, intensity, speech, bias, style)
        expr += weights[k][:, None] * clip
        blink[dominant == k] = clip[dominant == k, 1 + BLINK]
    expr[:, 1 + BLINK] = blink
    labels = np.array([emotion_index(segments[k][0]) for k in dominant], dtype=np.int64)
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
    """Clips of every emotion from ``num_actors`` actors (actors cycle through the clips), each actor
    with personal traits (``actor_bias``) and a personal style of every emotion (``actor_style``)."""
    if num_clips_per_emotion < 1 or num_actors < 1:
        raise ValueError("num_clips_per_emotion and num_actors must be at least 1")
    n = _check_frames(frames)
    rng = np.random.default_rng(seed)
    traits = [actor_bias(rng) for _ in range(num_actors)]
    styles = [actor_style(rng) for _ in range(num_actors)]
    seqs, labels, actors, intens = [], [], [], []
    for e in emotions:
        label = emotion_index(e)
        for i in range(num_clips_per_emotion):
            a = i % num_actors
            bias, gain, jaw_scale = traits[a]
            intensity = float(rng.uniform(*intensity_range)) * gain
            speech = np.clip(speech_jaw(n, rng) * jaw_scale, 0.0, MAX_JAW)
            seqs.append(emotion_expression_sequence(e, n, rng, intensity, speech, bias, styles[a]))
            labels.append(label)
            actors.append(a)
            intens.append(intensity)
    return SyntheticExpressionDataset(np.stack(seqs), np.array(labels, dtype=np.int64),
                                      np.array(actors, dtype=np.int64), np.array(intens))
