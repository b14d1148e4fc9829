"""The pipeline's requests and results in plain values: what api/convert.py makes of the wire.

Typed down to the stages' own dataclasses, so a type checker follows a request from the servicer
to the stage that reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ned_server.composite.config import CompositeConfig
from ned_server.composite.qc import ShotQc
from ned_server.manipulator.controls import EmotionSettings
from ned_server.manipulator.sliders import SliderCurve
from ned_server.runtime.intake import Shot
from ned_server.tracking.result import ShotTrack

StopCheck = Callable[[], bool]  # True once the caller has gone or cancelled


def never() -> bool:
    return False


@dataclass
class ColourRequest:
    config: str = ""
    input_space: str = ""


@dataclass
class ProgressEvent:
    stage: str
    done: int
    total: int
    message: str = ""


@dataclass
class TrackRequest:
    shot_id: str = ""
    colour: ColourRequest = field(default_factory=ColourRequest)
    face_id: int | None = None
    landmarks: Mapping[int, np.ndarray] | None = None
    force: bool = False
    frame_count: int = 0


@dataclass
class TrackDone:
    shot: Shot
    track: ShotTrack
    from_cache: bool


@dataclass
class ManipulateRequest:
    actor_id: str
    control: EmotionSettings
    composite: CompositeConfig
    shot_id: str = ""
    colour: ColourRequest = field(default_factory=ColourRequest)
    first: int | None = None
    last: int | None = None
    preroll: int | None = None
    compression: str = "zip"
    pixel_type: str = "half"
    face_id: int | None = None
    frame_count: int = 0
    render: str = "hybrid"  # ned_plugin.parameters.RENDER_MODES: full-resolution edit, warp alone, or neural
    sliders: list[SliderCurve] = field(default_factory=list)  # face sliders, applied after the manipulator
    output_frames: tuple[int, ...] = ()  # frames of first..last to return plates of; (): all


@dataclass
class ManipulateDone:
    shot_id: str
    frames: int
    tracked_frames: int
    tracking_from_cache: bool
    seconds: dict[str, float] = field(default_factory=dict)  # per stage (manipulate.StageTimes)
    qc: ShotQc | None = None  # the shot's quality control (composite.qc)


@dataclass
class StyleRequest:
    shot_id: str = ""
    colour: ColourRequest = field(default_factory=ColourRequest)
    first: int | None = None
    last: int | None = None
    face_id: int | None = None


@dataclass
class StyleResult:
    style: np.ndarray
    windows: int
    shot_id: str
    similarity: dict[str, float]


@dataclass
class RpcStatus:
    """Whether an RPC can run on this server now, and if not, the missing asset and where to get it."""

    name: str
    available: bool
    reason: str = ""
