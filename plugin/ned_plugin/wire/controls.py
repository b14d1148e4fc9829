"""The one place a ``pb.EmotionControl`` is built, from plain values (hand-written, not generated).

Hosts (knobs sampled over a shot) and the batch CLI (flags and a JSON key file) both describe the
emotion to send as plain numbers; building the message here keeps the two from drifting apart in
which fields they set and how unset values stay unset (``optional`` fields left out take the
server's defaults from the parameter table).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from . import pb


@dataclass(frozen=True)
class EmotionKeyValues:
    """One EmotionKey in plain values: the emotion (or mix) and intensity from ``frame`` on."""

    frame: int
    emotion: str = ""
    mix: Mapping[str, float] = field(default_factory=dict)
    intensity: float | None = None


def emotion_control(
    emotion: str = "",
    *,
    intensity: float | None = None,
    mix: Mapping[str, float] | None = None,
    seed: int | None = None,
    speech_preservation: float | None = None,
    reference_style: Sequence[float] = (),
    keys: Iterable[EmotionKeyValues] = (),
) -> pb.EmotionControl:
    """A ``pb.EmotionControl``; ``None`` (or empty) leaves a field unset, so the server's default applies."""
    control = pb.EmotionControl(emotion=emotion or "")
    if intensity is not None:
        control.intensity = float(intensity)
    if mix:
        control.mix.update({str(name): float(weight) for name, weight in mix.items()})
    if seed is not None:
        control.seed = int(seed)
    if speech_preservation is not None:
        control.speech_preservation = float(speech_preservation)
    if reference_style:
        control.reference_style.extend(float(v) for v in reference_style)
    for key in keys:
        k = control.keys.add(frame=int(key.frame), emotion=key.emotion or "")
        k.mix.update({str(name): float(weight) for name, weight in key.mix.items()})
        if key.intensity is not None:
            k.intensity = float(key.intensity)
    return control
