"""A node's controls: knob specs built from the server's GetInfo, and their values read once.

The server says which parameters it takes (ranges, defaults, choices, descriptions); this module
turns that into host-neutral ``KnobSpec``s that Nuke makes knobs of and Blender properties, and
reads a node's values back (in the UI thread) into a ``SnapshotValues`` a worker thread can use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..slider_keys import SLIDER_GROUP, is_slider, slider_label, slider_tooltip
from ..wire import pb
from .messages import HostError


@dataclass(frozen=True)
class KnobSpec:
    """One control a node shows, described host-neutrally; Nuke makes a knob of it, Blender a property."""

    name: str
    label: str
    kind: str  # "float", "int" or "enum"
    minimum: float = 0.0
    maximum: float = 1.0
    default: float = 0.0
    choices: tuple[str, ...] = ()
    default_choice: str = ""
    animatable: bool = False
    tooltip: str = ""
    group: str = "emotion"  # "emotion", "mix", "sliders", "matte" or "output": where the node puts it


# Server parameter -> (control kind, where its value goes in ManipulateSettings, label, group).
# Ranges, defaults, choices and descriptions come from GetInfo; this table only routes the value,
# which the node has to know anyway to fill the request. A parameter a newer server adds but this
# table lacks is not shown (it could not be sent); one this server lacks is not shown either.
PARAMETER_TARGETS: dict[str, tuple[str, str, str, str]] = {
    "emotion": ("enum", "emotion.emotion", "emotion", "emotion"),
    "intensity": ("float", "emotion.intensity", "intensity", "emotion"),
    "speech_preservation": ("float", "emotion.speech_preservation", "speech preservation", "emotion"),
    "seed": ("int", "emotion.seed", "seed", "emotion"),
    "blend_method": ("enum", "blend.method", "blend", "matte"),
    "blend_levels": ("int", "blend.levels", "blend levels", "matte"),
    "matte_erode": ("float", "blend.erode", "matte erode", "matte"),
    "matte_feather": ("float", "blend.feather", "matte feather", "matte"),
    "preroll": ("int", "preroll", "preroll", "output"),
    "compression": ("enum", "output.compression", "compression", "output"),
    "pixel_type": ("enum", "output.pixel_type", "pixel type", "output"),
    "render_mode": ("enum", "render", "render", "matte"),  # full-resolution edits: hybrid | warp | neural
}
# Knob names that differ from the parameter's (the nodes' Render button is already called "render").
KNOB_NAMES: dict[str, str] = {"render": "render_mode"}
# Only what an EmotionKey can carry changes over a shot; everything else is read once.
KEYED = frozenset({"intensity"})
MIX_PREFIX = "mix_"


def mix_knob(emotion: str) -> str:
    return MIX_PREFIX + re.sub(r"\W", "_", emotion)


def knob_specs(info: pb.ServerInfo) -> list[KnobSpec]:
    """The node's controls for this server: its parameters, one mix weight per emotion, then the face sliders."""
    specs: list[KnobSpec] = []
    sliders: list[KnobSpec] = []
    for prm in info.parameters:
        if is_slider(prm.name):  # face sliders: every one the server offers, animatable, in their own group
            sliders.append(KnobSpec(name=prm.name, label=slider_label(prm.name), kind="float", minimum=prm.minimum,
                                    maximum=prm.maximum, default=prm.default_value, animatable=True,
                                    tooltip=slider_tooltip(prm), group=SLIDER_GROUP))
            continue
        knob = KNOB_NAMES.get(prm.name, prm.name)
        target = PARAMETER_TARGETS.get(knob)
        if target is None:
            continue
        kind, _, label, group = target
        choices = tuple(prm.choices)
        if prm.name == "emotion" and info.emotions:
            choices = tuple(info.emotions)
        if kind == "enum" and not choices:
            continue
        default_choice = prm.default_choice if prm.default_choice in choices else (choices[0] if choices else "")
        specs.append(KnobSpec(
            name=knob, label=label, kind=kind, minimum=prm.minimum, maximum=prm.maximum,
            default=prm.default_value, choices=choices, default_choice=default_choice,
            animatable=prm.name in KEYED and prm.animatable, tooltip=prm.description, group=group,
        ))
    for emotion in info.emotions:
        specs.append(KnobSpec(
            name=mix_knob(emotion), label=emotion, kind="float", minimum=0.0, maximum=1.0, default=0.0,
            animatable=True, group="mix",
            tooltip=f"weight of '{emotion}' in an emotion mix; when any weight is above 0 the mix "
                    "replaces the single emotion",
        ))
    return specs + sliders


def actor_choices(info: pb.ServerInfo | Iterable[pb.ActorInfo]) -> list[tuple[str, str]]:
    """(actor id, label) for an actor menu: ready actors first, untrained ones marked."""
    actors = list(info.actors) if isinstance(info, pb.ServerInfo) else list(info)
    actors.sort(key=lambda a: (not a.ready, a.actor_id))
    return [(a.actor_id, a.actor_id if a.ready else f"{a.actor_id} (not trained)") for a in actors]


def server_summary(info: pb.ServerInfo) -> str:
    ready = sum(1 for a in info.actors if a.ready)
    missing = [r.name for r in info.rpcs if not r.available]
    text = f"NED {info.version} on {info.device or '?'}: {len(info.emotions)} emotions, {ready} trained actor(s)"
    if missing:
        text += "; not available here: " + ", ".join(missing)
    return text


# ============================================================================ reading the controls
class ValueSource(Protocol):
    """How the host layer reads a node's controls (a Nuke node, a Blender property group)."""

    def value(self, name: str) -> Any: ...

    def is_animated(self, name: str) -> bool: ...

    def value_at(self, name: str, frame: int) -> float: ...


@dataclass
class SnapshotValues:
    """A node's control values read once in the UI thread, so a worker thread can use them safely.

    ``curves`` holds the per-frame values of animated controls over the frames that were sampled;
    a control missing from ``values`` (a node made before it connected) takes the server's default.
    """

    values: dict[str, Any] = field(default_factory=dict)
    curves: dict[str, dict[int, float]] = field(default_factory=dict)

    def value(self, name: str) -> Any:
        return self.values[name]

    def is_animated(self, name: str) -> bool:
        return bool(self.curves.get(name))

    def value_at(self, name: str, frame: int) -> float:
        curve = self.curves[name]
        if frame in curve:
            return curve[frame]
        nearest = min(curve, key=lambda f: abs(f - frame))
        return curve[nearest]


def take_snapshot(source: ValueSource, names: Iterable[str], first: int, last: int) -> SnapshotValues:
    """Read every named control that exists; sample the animated ones over first..last."""
    snap = SnapshotValues()
    for name in names:
        try:
            snap.values[name] = source.value(name)
        except KeyError:
            continue
        if source.is_animated(name):
            snap.curves[name] = {f: float(source.value_at(name, f)) for f in range(first, last + 1)}
    return snap


def control_value(spec: KnobSpec, source: ValueSource) -> Any:
    """The control's value, checked against its spec; the spec's default when the node lacks it."""
    try:
        raw = source.value(spec.name)
    except KeyError:
        raw = spec.default_choice if spec.kind == "enum" else spec.default
    return coerce(spec, raw)


def coerce(spec: KnobSpec, raw: Any) -> Any:
    if spec.kind == "enum":
        text = str(raw)
        if text not in spec.choices:
            raise HostError(f"{spec.label} is {text!r}, which this server does not offer: "
                            f"pick one of {', '.join(spec.choices)}")
        return text
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise HostError(f"{spec.label} must be a number, got {raw!r}") from None
    if spec.kind == "int":
        return round(number)
    return number
