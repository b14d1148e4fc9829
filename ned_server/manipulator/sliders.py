"""Face sliders over a shot: keyed curves -> per-frame values -> the translated face nudged in 3D.

Runs after the manipulator, on its (T, 51) output and the track's pose and pupils, so the
sliders combine with any emotion, intensity, mix or reference style (they add on top of what
the manipulator made) and reach every render path that draws from the expression and the pose.

* A ``SliderCurve`` is a slider name (``parameters.SLIDERS``) and keys (frame, value) in shot frame
  numbers; values between keys follow a monotone cubic (PCHIP: smooth, no overshoot, the same
  interpolation as the emotion keys) and are held before the first and after the last key. One
  key is a constant. Ranges and units are the parameter table's (``slider_<name>``).
* Expression sliders add ``value * direction`` (``face3d.sliders.SliderBasis``) to the 50
  coefficients; the mouth sliders' direction is blended free -> speech-locked by the control's
  speech preservation, so the inner lips' opening stays the performance's. ``blink`` closes what
  the lids left open (``value * (1 - tracked blink)``), so 1 is shut whatever the performance.
* ``jaw_offset`` adds degrees to the jaw opening (never closing it past its rest or the original).
* Gaze and head sliders turn the eye joints and the global rotation; the pupils of the eye
  conditioning move with the eyeballs' front points (``face3d.sliders.pupil_shift``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ned_plugin.parameters import SLIDER_PREFIX, SLIDERS, parameter
from ned_server.face3d.flame import FlameLayer
from ned_server.face3d.sliders import (
    EXPRESSION_SLIDERS,
    GAZE_SLIDERS,
    HEAD_SLIDERS,
    JAW_SLIDER,
    SliderBasis,
    eye_rotation,
    head_rotation,
    pupil_shift,
)
from ned_server.manipulator.controls import ControlError, _interpolate
from ned_server.tracking.result import ShotTrack

MOUTH_SLIDERS = ("smile", "mouth_corners", "pout", "purse")


@dataclass
class SliderCurve:
    """One slider over the shot: ``keys`` of (frame number, value); one key holds the value everywhere."""

    name: str
    keys: Sequence[tuple[int, float]] = field(default_factory=list)


@dataclass
class SliderRig:
    """What applying sliders needs from the model: the FLAME layer (pupils) and its fitted directions."""

    layer: FlameLayer
    basis: SliderBasis


def slider_range(name: str) -> tuple[float, float, float]:
    """(minimum, maximum, default) of a slider from the parameter table."""
    p = parameter(SLIDER_PREFIX + name)
    return p.minimum, p.maximum, p.default


def _canonical(name: str) -> str:
    key = str(name).strip().lower().removeprefix(SLIDER_PREFIX)
    if key not in SLIDERS:
        raise ControlError(f"unknown face slider {name!r}; the sliders are: {', '.join(SLIDERS)}")
    return key


def as_curves(value: Sequence[SliderCurve] | Mapping[str, float | Sequence[Sequence[float]]] | None
              ) -> list[SliderCurve]:
    """Curves from SliderCurves or a keys mapping {slider: value | [[frame, value], ...]} (the CLI's file)."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        out = []
        for name, keys in value.items():
            if isinstance(keys, int | float):
                out.append(SliderCurve(str(name), [(0, float(keys))]))
            else:
                try:
                    out.append(SliderCurve(str(name), [(int(f), float(v)) for f, v in keys]))
                except (TypeError, ValueError):
                    raise ControlError(f"slider {name!r}: keys must be [[frame, value], ...] or one value, "
                                       f"got {keys!r}") from None
        return out
    return list(value)


def resolve_sliders(curves: Sequence[SliderCurve], frames: np.ndarray | Sequence[int]) -> dict[str, np.ndarray]:
    """Values at ``frames`` (shot frame numbers) of every slider that is keyed: {name: (T,)},
    checked against the table's ranges (a bad curve raises ControlError, INVALID_ARGUMENT)."""
    out: dict[str, np.ndarray] = {}
    frames = np.asarray(frames, dtype=np.float64).reshape(-1)
    for curve in curves:
        name = _canonical(curve.name)
        if name in out:
            raise ControlError(f"face slider {name!r} is given twice; send one curve per slider")
        if not curve.keys:
            raise ControlError(f"face slider {name!r} has no keys; give at least one (frame, value)")
        lo, hi, _ = slider_range(name)
        keys = sorted((int(f), float(v)) for f, v in curve.keys)
        at = np.array([f for f, _ in keys], np.float64)
        values = np.array([v for _, v in keys], np.float64)
        if np.any(np.diff(at) == 0):
            raise ControlError(f"face slider {name!r} has two keys at one frame ({[f for f, _ in keys]})")
        bad = ~np.isfinite(values) | (values < lo) | (values > hi)
        if bad.any():
            raise ControlError(f"face slider {name!r} = {values[bad][0]:g} at frame {int(at[bad][0])} is out of "
                               f"range; expected {lo:g} to {hi:g} ({parameter(SLIDER_PREFIX + name).unit})")
        out[name] = _interpolate(at, values[:, None], frames)[:, 0]
    return out


@dataclass
class SlidFace:
    """The face after the sliders: expression51 (T, 51), pose (T, 15), pupils (T, 2, 2) plate px."""

    expression51: np.ndarray
    pose: np.ndarray
    pupils: np.ndarray


def apply_sliders(rig: SliderRig, values: Mapping[str, np.ndarray], expression51: np.ndarray, pose: np.ndarray,
                  pupils: np.ndarray, shape: np.ndarray, camera: np.ndarray, frame_size: tuple[int, int],
                  blink: np.ndarray | None = None, speech_preservation: float = 1.0) -> SlidFace:
    """Nudge a (translated) face by per-frame slider values (see the module docstring)."""
    e51 = np.array(expression51, dtype=np.float64, copy=True)
    n = e51.shape[0]
    zero = np.zeros(n)
    n_coeff = e51.shape[1] - 1
    for name in EXPRESSION_SLIDERS:
        v = values.get(name)
        if v is None or not np.any(v):
            continue
        direction = rig.basis.direction(name, speech_preservation if name in MOUTH_SLIDERS else 0.0)
        k = min(n_coeff, direction.shape[0])
        amount = v * (1.0 - np.clip(blink, 0.0, 1.0)) if name == "blink" and blink is not None else v
        e51[:, 1:1 + k] += amount[:, None] * direction[None, :k]
    if JAW_SLIDER in values:
        jaw = e51[:, 0]
        e51[:, 0] = np.maximum(jaw + np.deg2rad(values[JAW_SLIDER]), np.minimum(jaw, 0.0))
    new_pose = np.array(pose, dtype=np.float64, copy=True)
    if any(name in values for name in HEAD_SLIDERS):
        new_pose = head_rotation(new_pose, values.get("head_yaw", zero), values.get("head_pitch", zero),
                                 values.get("head_roll", zero))
    if any(name in values for name in GAZE_SLIDERS):
        new_pose = eye_rotation(new_pose, values.get("gaze_horizontal", zero), values.get("gaze_vertical", zero))
    new_pupils = np.array(pupils, dtype=np.float64, copy=True)
    if any(name in values for name in (*HEAD_SLIDERS, *GAZE_SLIDERS)):
        before = np.array(pose, dtype=np.float64, copy=True)
        before[:, 6], new_pose[:, 6] = e51[:, 0], e51[:, 0]
        new_pupils += pupil_shift(rig.layer, shape, e51[:, 1:], before, new_pose, camera, frame_size)
    new_pose[:, 6] = e51[:, 0]
    return SlidFace(e51.astype(np.float32), new_pose.astype(np.float32), new_pupils.astype(np.float32))


def slide_track(rig: SliderRig, track: ShotTrack, expression51: np.ndarray, curves: Sequence[SliderCurve],
                speech_preservation: float) -> tuple[np.ndarray, ShotTrack]:
    """The translated expression and a track whose pose and pupils carry the sliders, ready for the
    conditioning (which takes the jaw and coefficients from the expression, the rest from the track)."""
    values = resolve_sliders(curves, track.frames)
    if not values:
        return expression51, track
    face = apply_sliders(rig, values, expression51, track.pose, track.pupils, track.shape, track.camera,
                         track.frame_size, track.blink, speech_preservation)
    return face.expression51, replace(track, pose=face.pose, pupils=face.pupils)
