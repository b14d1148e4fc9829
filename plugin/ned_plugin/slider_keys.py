"""Face sliders on the host side: knobs from GetInfo, curves from the host's animation, the CLI's keys file.

The server lists every slider in GetInfo as a parameter named ``slider_<name>`` with its range,
default and unit, so a node shows whatever sliders the server has (one animatable float each,
in their own "sliders" group) without naming them in node code. At render time a slider that is
animated becomes a ``SliderCurve`` with keys where its curve bends (the same reduction as the
emotion keys); a constant slider away from its default becomes one key; a slider at its default
is not sent at all.

The CLI reads a keys file, JSON ``{"smile": [[1001, 0.0], [1024, 0.8]], "gaze_horizontal": 5}``: a
list of [frame, value] keys, or one number for the whole shot.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from .parameters import SLIDER_PREFIX  # GetInfo's parameter names of the face sliders
from .wire import pb

SLIDER_GROUP = "sliders"
TOLERANCE = 1e-4


class SliderKeysError(ValueError):
    """A keys file or a slider value the server could not take (the message says how to fix it)."""


class SliderValues(Protocol):
    """What a node's controls offer (ned_plugin.host.ValueSource)."""

    def value(self, name: str) -> object: ...

    def is_animated(self, name: str) -> bool: ...

    def value_at(self, name: str, frame: int) -> float: ...


def is_slider(parameter_name: str) -> bool:
    return parameter_name.startswith(SLIDER_PREFIX)


def slider_label(parameter_name: str) -> str:
    return parameter_name.removeprefix(SLIDER_PREFIX).replace("_", " ")


def slider_tooltip(prm: pb.ParameterInfo) -> str:
    unit = f" [{prm.unit}]" if prm.unit else ""
    return f"{prm.description}{unit}; animatable: key it to change it over the shot"


def reduce_curve(frames: Sequence[int], values: Sequence[float], tolerance: float = TOLERANCE
                 ) -> list[tuple[int, float]]:
    """The fewest (frame, value) keys whose straight lines rebuild every sample within ``tolerance``."""
    if len(frames) <= 2:
        return list(zip(frames, values, strict=True))
    kept = [0]
    for end in range(2, len(frames)):
        anchor = kept[-1]
        span = frames[end] - frames[anchor]
        for k in range(anchor + 1, end):
            line = values[anchor] + (values[end] - values[anchor]) * (frames[k] - frames[anchor]) / span
            if abs(line - values[k]) > tolerance:
                kept.append(end - 1)
                break
    kept.append(len(frames) - 1)
    return [(frames[i], values[i]) for i in kept]


def slider_curves(sliders: Iterable[tuple[str, float]], source: SliderValues, first: int, last: int
                  ) -> list[pb.SliderCurve]:
    """Curves for frames first..last from the node's slider controls, given as (knob name, default)."""
    out: list[pb.SliderCurve] = []
    for knob, default in sliders:
        name = knob.removeprefix(SLIDER_PREFIX)
        try:
            animated = source.is_animated(knob)
            constant = None if animated else float(source.value(knob))  # type: ignore[arg-type]
        except KeyError:
            continue  # a node made before this server offered the slider
        if animated:
            frames = list(range(first, last + 1))
            keys = reduce_curve(frames, [float(source.value_at(knob, f)) for f in frames])
        elif constant is not None and abs(constant - default) > 1e-9:
            keys = [(first, constant)]
        else:
            continue
        curve = pb.SliderCurve(name=name)
        for frame, value in keys:
            curve.keys.add(frame=int(frame), value=float(value))
        out.append(curve)
    return out


def curves_from_mapping(data: Mapping[str, object]) -> list[pb.SliderCurve]:
    """Curves from {slider: value | [[frame, value], ...]} (the keys file's contents)."""
    if not isinstance(data, Mapping):
        raise SliderKeysError("a slider keys file holds a JSON object: {\"smile\": [[1001, 0.0], [1024, 0.8]], ...}")
    out = []
    for name, keys in data.items():
        curve = pb.SliderCurve(name=str(name).removeprefix(SLIDER_PREFIX))
        if isinstance(keys, int | float) and not isinstance(keys, bool):
            curve.keys.add(frame=0, value=float(keys))
        elif isinstance(keys, list) and keys:
            for key in keys:
                if not (isinstance(key, list | tuple) and len(key) == 2):
                    raise SliderKeysError(f"slider {name!r}: each key is [frame, value], got {key!r}")
                try:
                    curve.keys.add(frame=int(key[0]), value=float(key[1]))
                except (TypeError, ValueError):
                    raise SliderKeysError(f"slider {name!r}: each key is [frame, value] numbers, got {key!r}"
                                          ) from None
        else:
            raise SliderKeysError(f"slider {name!r}: give one number or a list of [frame, value] keys, got {keys!r}")
        out.append(curve)
    return out


def read_slider_keys(path: str | Path) -> list[pb.SliderCurve]:
    """The CLI's ``--sliders`` file (see the module docstring)."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise SliderKeysError(f"cannot read the slider keys file {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise SliderKeysError(f"the slider keys file {path} is not JSON: {exc}") from None
    return curves_from_mapping(data)
