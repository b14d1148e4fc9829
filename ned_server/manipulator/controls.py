"""What a compositor asks the manipulator for, and how it becomes a per-frame target.

Beyond the paper (one label or one reference clip per shot), a VFX tool needs:

* ``intensity``: the style used is ``own + intensity * (target - own)`` where ``own`` is the
  actor's own style read by the style encoder from the same window; 0 keeps the performance,
  1 reaches the target, above 1 exaggerates (up to ``MAX_INTENSITY``).
* ``mix``: several emotions by weight (weights are normalised), e.g. {"happy": 0.7, "surprised": 0.3}.
* ``keyframes``: emotion (or mix) and intensity at given frames, interpolated between keys with a
  monotone cubic (PCHIP: smooth, no overshoot) and held before the first and after the last key.
  A key without an emotion keeps the control's emotion/mix, so intensity alone can be animated.
* ``reference_style``: a style vector from ``extract_style`` used as the target instead of labels
  (keyframes then animate only the intensity).
* ``seed``: the latent code given to the mapping network, so a label always gives the same style.
* ``speech_preservation``: after translation, the jaw opening is blended towards the input's
  (0 = the network's jaw, 1 = exactly the input jaw), a guarantee for lip sync.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.interpolate import PchipInterpolator

from ned_plugin.parameters import parameter
from ned_server.domains import EMOTIONS, STYLE_DIM, emotion_index
from ned_server.errors import InvalidInput

MAX_INTENSITY = parameter("intensity").maximum  # the one table (ned_plugin.parameters)
DEFAULT_SPEECH_PRESERVATION = parameter("speech_preservation").default

Mix = str | Mapping[str, float]


class ControlError(InvalidInput, KeyError):
    """An emotion control the manipulator cannot follow (unknown emotion, bad weights or keys)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass
class Keyframe:
    frame: int
    mix: Mix | None = None  # an emotion name or {emotion: weight}; None keeps the control's
    intensity: float | None = None  # None keeps the control's


@dataclass
class EmotionSettings:
    emotion: str | None = None
    mix: Mapping[str, float] | None = None
    intensity: float = 1.0
    keyframes: Sequence[Keyframe | tuple[Any, ...]] = field(default_factory=list)
    reference_style: np.ndarray | Sequence[float] | None = None
    seed: int = 0
    speech_preservation: float = DEFAULT_SPEECH_PRESERVATION


@dataclass
class Schedule:
    """Per-frame targets: ``weights`` (T, K) over the domains (rows sum to 1, or all zero when a
    reference style is the target), ``intensity`` (T,), and the ``reference`` style if any."""

    weights: np.ndarray
    intensity: np.ndarray
    reference: np.ndarray | None


def _check_intensity(value: float, where: str) -> float:
    v = float(value)
    if not np.isfinite(v) or v < 0.0 or v > MAX_INTENSITY:
        raise ControlError(f"{where}: intensity must be between 0 and {MAX_INTENSITY} "
                           f"(0 = the actor's own style, 1 = the target), got {value}")
    return v


def mix_weights(mix: Mix, emotions: Sequence[str]) -> np.ndarray:
    """Normalised (K,) weights over ``emotions`` from a name or {name: weight}."""
    items = {mix: 1.0} if isinstance(mix, str) else dict(mix)
    if not items:
        raise ControlError("an empty emotion mix; give at least one emotion with a positive weight")
    out = np.zeros(len(emotions))
    for name, w in items.items():
        try:
            canonical = emotions_lookup(name, emotions)
        except KeyError as exc:
            raise ControlError(str(exc.args[0])) from None
        w = float(w)
        if not np.isfinite(w) or w < 0:
            raise ControlError(f"weight of {name!r} must be a finite number >= 0, got {w}")
        out[canonical] += w
    total = out.sum()
    if total <= 0:
        raise ControlError(f"emotion mix weights sum to 0 ({items}); at least one must be positive")
    return out / total


def emotions_lookup(name: str, emotions: Sequence[str]) -> int:
    """Index of ``name`` (aliases accepted) among the checkpoint's ``emotions``."""
    try:
        canonical = emotion_index(str(name))
    except KeyError:
        raise KeyError(f"unknown emotion {name!r}; expected one of: {', '.join(emotions)}") from None
    key = EMOTIONS[canonical]
    if key not in emotions:
        raise KeyError(f"emotion {key!r} is not in this checkpoint; expected one of: {', '.join(emotions)}")
    return list(emotions).index(key)


def _as_keyframe(key: Keyframe | tuple[Any, ...] | Mapping[str, Any]) -> Keyframe:
    if isinstance(key, Keyframe):
        return key
    if isinstance(key, Mapping):
        return Keyframe(int(key["frame"]), key.get("mix", key.get("emotion")), key.get("intensity"))
    if isinstance(key, tuple | list) and 1 <= len(key) <= 3:
        frame, mix, intensity = (*key, None, None)[:3]
        return Keyframe(int(frame), mix or None, intensity)
    raise ControlError(f"a keyframe must be (frame, emotion or mix, intensity), got {key!r}")


def resolve_schedule(control: EmotionSettings, num_frames: int, emotions: Sequence[str],
                     first_frame: int = 0) -> Schedule:
    """Per-frame weights and intensity for frames ``first_frame .. first_frame + num_frames - 1``."""
    if not isinstance(control, EmotionSettings):
        raise ControlError(f"expected an EmotionSettings, got {type(control).__name__}")
    base_intensity = _check_intensity(control.intensity, "control")
    sp = float(control.speech_preservation)
    if not np.isfinite(sp) or not 0.0 <= sp <= 1.0:
        raise ControlError(f"speech_preservation must be between 0 and 1, got {control.speech_preservation}")
    reference = None
    if control.reference_style is not None and len(control.reference_style) > 0:
        reference = np.asarray(control.reference_style, dtype=np.float64).reshape(-1)
        if reference.shape != (STYLE_DIM,) or not np.all(np.isfinite(reference)):
            raise ControlError(f"reference_style must be {STYLE_DIM} finite numbers (from ExtractStyle), "
                               f"got shape {reference.shape}")
    base_mix: np.ndarray | None = None
    if control.mix:
        base_mix = mix_weights(control.mix, emotions)
    elif control.emotion:
        base_mix = mix_weights(control.emotion, emotions)
    keys = sorted((_as_keyframe(k) for k in control.keyframes), key=lambda k: k.frame)
    if reference is None and base_mix is None and not any(k.mix for k in keys):
        raise ControlError(f"no target: give an emotion ({', '.join(emotions)}), a mix, keyframes "
                           "with emotions, or a reference style")
    frames = first_frame + np.arange(num_frames, dtype=np.float64)
    k_count = len(emotions)
    if not keys:
        weights = np.zeros((num_frames, k_count)) if base_mix is None else np.tile(base_mix, (num_frames, 1))
        intensity = np.full(num_frames, base_intensity)
    else:
        at = np.array([k.frame for k in keys], dtype=np.float64)
        if np.any(np.diff(at) == 0):
            raise ControlError(f"two keyframes at the same frame ({[k.frame for k in keys]})")
        key_int = np.array([base_intensity if k.intensity is None else _check_intensity(k.intensity,
                                                                                         f"keyframe {k.frame}")
                            for k in keys])
        if reference is not None:
            key_mix = np.zeros((len(keys), k_count))
        else:
            rows = []
            for k in keys:
                if k.mix:
                    rows.append(mix_weights(k.mix, emotions))
                elif base_mix is not None:
                    rows.append(base_mix)
                else:
                    raise ControlError(f"keyframe at frame {k.frame} has no emotion and the control has none")
            key_mix = np.stack(rows)
        weights = _interpolate(at, key_mix, frames)
        intensity = _interpolate(at, key_int[:, None], frames)[:, 0]
        if reference is None:
            weights = np.clip(weights, 0.0, None)
            weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
    return Schedule(weights=weights, intensity=intensity, reference=reference)


def _interpolate(at: np.ndarray, values: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Monotone cubic through the keys, held constant outside them."""
    if at.size == 1:
        return np.tile(values[0], (frames.size, 1))
    held = np.clip(frames, at[0], at[-1])
    return PchipInterpolator(at, values, axis=0)(held)
