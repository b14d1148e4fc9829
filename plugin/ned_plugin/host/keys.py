"""Animated controls over a shot: sampled per frame, reduced to the few EmotionKeys that rebuild them.

Only intensity and the mix weights can change over a shot (what an EmotionKey carries); the rest
of the emotion controls are read once. The message itself is built by ``ned_plugin.wire.controls``,
the same builder the batch CLI uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..wire import pb
from ..wire.controls import EmotionKeyValues
from ..wire.controls import emotion_control as build_emotion_control
from .controls import PARAMETER_TARGETS, KnobSpec, ValueSource, control_value


@dataclass(frozen=True)
class KeySample:
    """The keyable values of one frame: intensity (None when the server has no such control) and mix weights."""

    frame: int
    intensity: float | None
    mix: dict[str, float]


def reduce_keys(samples: Sequence[KeySample], tolerance: float = 1e-4) -> list[KeySample]:
    """The fewest samples from which straight lines rebuild every sample within ``tolerance``.

    Keys at every frame would be exact but bulky. Walking from the last kept key, a sample is
    dropped while the line from that key to the next sample passes within ``tolerance`` of every
    sample in between; so constant and linear stretches keep their two ends, and a slow ease is
    never flattened into one line (the error is measured against the real samples, not locally).
    """
    if len(samples) <= 2:
        return list(samples)
    names = sorted(samples[0].mix)
    values = np.array([[s.intensity if s.intensity is not None else 0.0, *(s.mix[k] for k in names)]
                       for s in samples], np.float64)
    frames = np.array([s.frame for s in samples], np.float64)
    kept = [0]
    for end in range(2, len(samples)):
        anchor = kept[-1]
        t = (frames[anchor + 1:end] - frames[anchor]) / (frames[end] - frames[anchor])
        line = values[anchor] + (values[end] - values[anchor]) * t[:, None]
        if np.abs(line - values[anchor + 1:end]).max() > tolerance:
            kept.append(end - 1)
    kept.append(len(samples) - 1)
    return [samples[i] for i in kept]


def emotion_control(specs: Sequence[KnobSpec], source: ValueSource, first: int, last: int,
                    reference_style: Sequence[float] = ()) -> pb.EmotionControl:
    """The EmotionControl for frames first..last: constant values, or keys where the controls are animated.

    Mix weights: when any weight is above zero anywhere in the range, the mix is sent (every
    emotion weighted anywhere, so keys agree on which emotions they mix); otherwise the single
    emotion. Animated intensity or mix weights become EmotionKeys at the frames where a curve bends.
    """
    by_name = {s.name: s for s in specs}
    constant: dict[str, Any] = {}
    for spec in specs:
        target = PARAMETER_TARGETS.get(spec.name)
        if target and target[1].startswith("emotion."):
            constant[target[1].removeprefix("emotion.")] = control_value(spec, source)
    emotion = str(constant.pop("emotion", ""))
    mix_specs = [s for s in specs if s.group == "mix"]
    frames = range(first, last + 1)

    def sample(name: str, frame: int) -> float:
        if source.is_animated(name):
            return float(source.value_at(name, frame))
        return float(control_value(by_name[name], source))

    mixed = [s for s in mix_specs
             if any(sample(s.name, f) > 0 for f in (frames if source.is_animated(s.name) else (first,)))]
    intensity_animated = "intensity" in by_name and source.is_animated("intensity")
    mix_animated = any(source.is_animated(s.name) for s in mixed)
    if not intensity_animated and not mix_animated:
        mix = {s.label: sample(s.name, first) for s in mixed}
        return build_emotion_control(emotion, mix=mix, reference_style=reference_style, **constant)
    samples = [
        KeySample(frame, sample("intensity", frame) if "intensity" in by_name else None,
                  {s.label: sample(s.name, frame) for s in mixed})
        for frame in frames
    ]
    keys = [EmotionKeyValues(s.frame, emotion, s.mix, s.intensity) for s in reduce_keys(samples)]
    return build_emotion_control(emotion, mix=samples[0].mix if mixed else None, reference_style=reference_style,
                                 keys=keys, **constant)
